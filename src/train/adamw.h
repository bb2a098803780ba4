// AdamW for SlimFit: parameters without a gradient this step (frozen units) are skipped, so
// their moments and step count stand still until the unit trains again, exactly as if that
// unit had not been in the step. Same update as torch.optim.AdamW (decoupled weight decay,
// per-parameter bias correction).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace slimfit::train {

struct AdamWOptions {
  double lr = 5e-5;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

class AdamW {
 public:
  struct Slot {
    std::string name;
    at::Tensor param;
    at::Tensor exp_avg;     // undefined until first allocated
    at::Tensor exp_avg_sq;  // undefined until first allocated
    int64_t step = 0;
  };

  AdamW(std::vector<std::pair<std::string, at::Tensor>> named_params, AdamWOptions options);

  // Allocates the moments of every parameter now (steady-state memory from the start).
  void init_state();
  // One update of every parameter whose grad is defined, at learning rate `lr`.
  void step(double lr);
  // Releases every gradient (sets it undefined, freeing its memory; not zeroing it).
  void release_grads();

  // Note [optimizer offload]: with offload on, the moments of a parameter on an accelerator
  // live in pinned host memory while it is frozen, and come back to its device when it trains.
  // place_state() does the moves for the coming step (call it after the freeze mask has set
  // requires_grad); copies are asynchronous on the current stream, so the update that follows
  // is ordered after them. Parameters in host memory are never moved (offload has no effect on
  // CPU training). Numerics do not change: the same moments are used, wherever they are kept.
  void set_offload(bool on) { offload_ = on; }
  bool offload() const { return offload_; }
  // Returns the bytes copied (both directions).
  int64_t place_state();

  int64_t state_bytes() const;
  // Moment bytes held on an accelerator now (0 for CPU training).
  int64_t device_state_bytes() const;
  const std::vector<Slot>& slots() const { return slots_; }
  std::vector<Slot>& slots() { return slots_; }
  const AdamWOptions& options() const { return options_; }

 private:
  std::vector<Slot> slots_;
  AdamWOptions options_;
  bool offload_ = false;
};

}  // namespace slimfit::train

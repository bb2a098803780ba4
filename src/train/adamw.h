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

  int64_t state_bytes() const;
  const std::vector<Slot>& slots() const { return slots_; }
  std::vector<Slot>& slots() { return slots_; }
  const AdamWOptions& options() const { return options_; }

 private:
  std::vector<Slot> slots_;
  AdamWOptions options_;
};

}  // namespace slimfit::train

// AdamW for SlimFit. Same update as torch.optim.AdamW (decoupled weight decay first, then the
// moments, eps 1e-8 added to the bias-corrected sqrt(v), per-parameter bias correction).
//
// Note [frozen update]. What a parameter without a gradient this step (a frozen unit) does:
//   - coast (frozen_update=coast, the default): if it has trained at least once, it takes the
//     full AdamW step with a zero gradient: decay p <- p (1 - lr wd), m <- b1 m, v <- b2 v,
//     its own step count advances (bias correction), and p <- p - lr m_hat / (sqrt(v_hat) + eps).
//     This is what the SlimFit reference does, because PyTorch before 2.0 zeroed gradients in
//     place instead of dropping them: a frozen unit coasts on its last updates (about
//     1 / (1 - b1) = 10 steps' worth in total). It needs no gradient and no activation, only
//     the moments, which are resident anyway. The result is exactly that of step() with an
//     explicit zero gradient. Every rank holds the same moments, so every rank computes the same
//     coasting update with no communication. With a window W > 0 a unit coasts only for the W
//     steps after it last trained, then stands still (note [optimizer offload]).
//   - none (frozen_update=none): it is skipped; its moments and step count stand still until it
//     trains again, as with PyTorch 2.x, where zero_grad() drops gradients.
// A parameter that has never trained (step 0) never moves.
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
  bool coast = false;        // note [frozen update]
  int64_t coast_window = 0;  // > 0: coast only this many steps after the last trained step
};

class AdamW {
 public:
  struct Slot {
    std::string name;
    at::Tensor param;
    at::Tensor exp_avg;     // undefined until first allocated
    at::Tensor exp_avg_sq;  // undefined until first allocated
    int64_t step = 0;       // AdamW steps taken, coasting ones included (bias correction)
    int64_t idle = 0;       // steps since the parameter last had a gradient
  };

  AdamW(std::vector<std::pair<std::string, at::Tensor>> named_params, AdamWOptions options);

  // Allocates the moments of every parameter now (steady-state memory from the start).
  void init_state();
  // One update at learning rate `lr` of every parameter whose grad is defined, and of every
  // coasting one (note [frozen update]).
  void step(double lr);
  // Would this parameter move in a step where it has no gradient?
  bool coasts(const Slot& s) const;
  // Releases every gradient (sets it undefined, freeing its memory; not zeroing it).
  void release_grads();

  // Note [optimizer offload]: with offload on, the moments of a parameter on an accelerator
  // live in pinned host memory while it is frozen and not coasting, and come back to its device
  // when it trains. Coasting needs the moments where the weight lives, so the trainer gives
  // offload runs a bounded coasting window (coast_steps, 44 by default: b1^44 < 1e-2, so less
  // than 1% of a training step's coasting movement is cut off); a unit's moments stay on the
  // device for the window after it trains, then are parked on the host. place_state() does the
  // moves for the coming step (call it after the freeze mask has set requires_grad); copies are
  // asynchronous on the current stream, so the update that follows is ordered after them.
  // Parameters in host memory are never moved (offload has no effect on CPU training). Where
  // the moments are kept never changes the numbers; the window does, and applies on CPU too.
  void set_offload(bool on) { offload_ = on; }
  bool offload() const { return offload_; }
  // Returns the bytes copied (both directions).
  int64_t place_state();

  int64_t state_bytes() const;
  // Moment bytes that offload keeps next to the weights for the coming step (trainable or
  // coasting parameters), wherever they are now: on CPU it tells what a GPU run would hold.
  // Without offload, every moment stays: state_bytes().
  int64_t resident_state_bytes() const;
  // Moment bytes held on an accelerator now (0 for CPU training).
  int64_t device_state_bytes() const;
  const std::vector<Slot>& slots() const { return slots_; }
  std::vector<Slot>& slots() { return slots_; }
  const AdamWOptions& options() const { return options_; }

 private:
  // One AdamW update of `s`; `grad` undefined means a zero gradient (coasting).
  void update(Slot& s, const at::Tensor& grad, double lr);

  std::vector<Slot> slots_;
  AdamWOptions options_;
  bool offload_ = false;
};

}  // namespace slimfit::train

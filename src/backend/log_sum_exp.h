// log(sum_i exp(x_i)) over a vocabulary of logits: the normaliser of every log-probability the
// log-likelihood scorer reads. It runs once per scored token over the whole vocabulary (128k
// entries for Llama 3), so it is vectorised and spread over the cores.
#pragma once

namespace clinbench {

// REQUIRES: n > 0. Accurate to a relative 1e-6 of the sum (terms more than 87 below the
// maximum count as e^-87, which changes no digit that matters).
double log_sum_exp(const float* logits, int n);

}  // namespace clinbench

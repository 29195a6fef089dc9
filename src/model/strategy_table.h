// The strategy table: one entry per loading strategy, registered in one place
// (strategy_table.cpp), with everything the rest of clinbench knows about it: its name, how it
// loads the weights, where it puts the layers, the types a quantize recipe's symbols stand for,
// how it is planned, and what its attempt records. A new strategy is a new entry there.
#pragma once

#include <cstdint>
#include <vector>

#include "clinbench/error.h"
#include "clinbench/plan.h"
#include "clinbench/strategy.h"
#include "model/simulate.h"

namespace clinbench {

// How a strategy gets the weights into memory (the attempt log's placement.load_mode).
enum class WeightLoad {
  kAsStored,   // "mmap": the file's tensors, mapped
  kQuantized,  // "quantize-stream": float tensors quantized to the recipe's types while loading
};
const char* to_string(WeightLoad load);

// Where a strategy puts the model's layers when there is an accelerator.
enum class LayerPlacement {
  kAll,       // every layer (and the output head) on the accelerator
  kFitted,    // as many layers as the device budget holds (the plan decides), the rest on the host
  kHostOnly,  // none: the model is built without the accelerator
};

// The types a recipe's symbolic names stand for under a quantize strategy.
struct QuantizeTypes {
  const char* low;   // the strategy's type
  const char* high;  // for the tensors a recipe keeps at higher precision
  const char* embd;  // the token embeddings
};

// What a strategy's plan starts from: the model, the recipe, and llama.cpp's simulations of the
// file as stored, shared by every strategy.
struct PlanInputs {
  PlanningFile& planning;
  const ModelInfo& model;
  const Recipe& recipe;
  const Accelerator& accelerator;
  const PlanOptions& options;
  SimulationShape shape;    // the context every strategy's plan assumes
  const Simulated& full;    // as stored, every layer on the accelerator when there is one
  const Simulated& host;    // as stored, nothing on the accelerator
  uint64_t device_reserve;  // kept free on the device (device_compute_reserve)
};

struct StrategyDef {
  Strategy strategy;
  const char* name;
  const char* summary;  // one line: what it does
  WeightLoad load;
  LayerPlacement placement;
  QuantizeTypes quantize;  // kQuantized only; null names otherwise
  // Fills the plan's host and device bytes, layer counts, weight bytes and tensor choices, or
  // says why the strategy does not apply (applicable, reason).
  Result<void> (*plan)(const PlanInputs& in, StrategyPlan& out);
};

// Every strategy, in the order `auto` tries them: native, quantize:q8, quantize:q4, offload,
// cpu (8-bit before 4-bit: it keeps more fidelity; 4-bit when 8-bit does not fit).
const std::vector<StrategyDef>& strategy_table();
// REQUIRES: s is a strategy of the table (every Strategy value is).
const StrategyDef& strategy_def(Strategy s);

// Whether the strategy's attempt records a recipe (the quantize strategies).
inline bool records_recipe(Strategy s) { return strategy_def(s).load == WeightLoad::kQuantized; }

// The layers the strategy puts on the accelerator: all of them, the plan's count, or none.
int layers_on_device(Strategy s, int planned, int n_layers, bool accelerator);

}  // namespace clinbench

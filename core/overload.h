#pragma once
// std::visit over a variant with one lambda per alternative: std::visit(Overload{...}, v).
namespace tandem::core {

template <class... F>
struct Overload : F... {
  using F::operator()...;
};
template <class... F>
Overload(F...) -> Overload<F...>;

}  // namespace tandem::core

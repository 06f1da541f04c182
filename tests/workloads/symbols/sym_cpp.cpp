// Fixture for C++ names: namespaces, a class, overloads and a template, and the names whose
// parentheses, angles and spaces are not a parameter list or a return type: an anonymous
// namespace, operators (conversion, comparison, call, a template one), a lambda and a thunk.
#include <cstdio>

namespace shapes {

class Circle {
 public:
  explicit Circle(double r) : r_(r) {}
  __attribute__((noinline)) double area() const { return 3.14159 * r_ * r_; }
  __attribute__((noinline)) void grow(double by) { r_ += by; }

 private:
  double r_;
};

__attribute__((noinline)) double scale(double x) { return x * 2; }
__attribute__((noinline)) int scale(int x) { return x * 3; }

template <typename T>
__attribute__((noinline)) T twice(T x) {
  return x + x;
}

namespace {
__attribute__((noinline)) int hidden_helper(int x) { return x + 7; }
}  // namespace

struct Flag {
  int v;
  __attribute__((noinline)) explicit operator bool() const { return v != 0; }
  __attribute__((noinline)) bool operator<(const Flag& o) const { return v < o.v; }
  __attribute__((noinline)) int operator()(int a, int b) const { return a * v + b; }
};

template <typename T>
struct Box {
  T value;
};

template <typename T>
__attribute__((noinline)) bool operator==(const Box<T>& a, const Box<T>& b) {
  return a.value == b.value;
}

// Calling kind() through a Base2* enters "non-virtual thunk to shapes::Both::kind()", which
// adjusts `this` and jumps to Both::kind.
struct Base1 {
  virtual ~Base1() = default;
  virtual int id() { return 1; }
};
struct Base2 {
  virtual ~Base2() = default;
  virtual int kind() { return 2; }
};
struct Both : Base1, Base2 {
  int kind() override;
};
__attribute__((noinline)) int Both::kind() { return 3; }

}  // namespace shapes

int main(int argc, char**) {
  shapes::Circle c(argc);
  c.grow(1.5);
  double r = c.area() + shapes::scale(2.0) + shapes::scale(argc) + shapes::twice(argc) + shapes::twice(1.5);
  shapes::Flag f{argc}, g{2};
  auto diff = [](int a, int b) { return a - b; };
  shapes::Both both;
  shapes::Base2* base = &both;
  int n = shapes::hidden_helper(argc) + bool(f) + (f < g) + f(1, 2) + diff(argc, 3) + base->kind() +
          (shapes::Box<int>{argc} == shapes::Box<int>{2});
  std::printf("%f %d\n", r, n);
  return 0;
}

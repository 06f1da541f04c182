// Fixture for C++ names: namespaces, a class, overloads and a template.
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

}  // namespace shapes

int main(int argc, char**) {
  shapes::Circle c(argc);
  c.grow(1.5);
  double r = c.area() + shapes::scale(2.0) + shapes::scale(argc) + shapes::twice(argc) + shapes::twice(1.5);
  std::printf("%f\n", r);
  return 0;
}

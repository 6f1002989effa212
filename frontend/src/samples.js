// A short file per language, the cursor at "|" with code after it (the suffix).
export const SAMPLES = {
  python: `import math


def circle_area(radius: float) -> float:
    """The area of a circle of the given radius."""
    |


if __name__ == "__main__":
    print(circle_area(2.0))
`,
  javascript: `// Sum of the even numbers in a list.
function sumOfEvens(numbers) {
  |
}

console.log(sumOfEvens([1, 2, 3, 4]));
`,
  typescript: `interface Point {
  x: number;
  y: number;
}

function distance(a: Point, b: Point): number {
  |
}
`,
  rust: `/// The largest value in a slice, if any.
fn largest(values: &[i32]) -> Option<i32> {
    |
}

fn main() {
    println!("{:?}", largest(&[3, 7, 2]));
}
`,
  go: `package main

import "fmt"

// reverse returns s with its runes in the opposite order.
func reverse(s string) string {
	|
}

func main() {
	fmt.Println(reverse("hello"))
}
`,
  java: `public class Greeting {
    /** A greeting for the given name. */
    static String greet(String name) {
        |
    }

    public static void main(String[] args) {
        System.out.println(greet("world"));
    }
}
`,
  cpp: `#include <vector>

// The mean of the values, 0 for none.
double mean(const std::vector<double>& values) {
    |
}
`,
};

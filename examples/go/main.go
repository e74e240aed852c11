// Command go-example is the Laingfile Go example's program.
package main

import "fmt"

func main() {
	fmt.Println("hello from the Laingfile go example")
}

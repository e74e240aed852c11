fn main() {
    println!("hello from the Laingfile rust example");
}

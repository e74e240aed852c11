print("hello from the Laingfile python example")

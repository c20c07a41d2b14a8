Console.WriteLine("cairn");

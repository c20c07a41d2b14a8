using System.Diagnostics;
using Cairn.Core.Storage;
using Cairn.Engine;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Bench;

/// <summary>
/// I/O on a clone versus <c>RandomAccess</c> on a plain file in the same directory, side by side in one run: 4 KiB
/// random read and write, 1 MiB sequential read and write. Data sets are 1 GiB (<c>--mib</c>) and live in the page
/// cache: this measures the engine's overhead, not the disk. Each figure alternates the two sides several times and
/// keeps the best of each (the machine is shared).
/// </summary>
internal static class IoBench
{
    private static long _size = 1L << 30;

    public static int Run(string[] args)
    {
        _size = long.Parse(BenchArgs.Get(args, "mib", "1024"), System.Globalization.CultureInfo.InvariantCulture) << 20;
        int rounds = int.Parse(BenchArgs.Get(args, "rounds", "7"), System.Globalization.CultureInfo.InvariantCulture);
        var dir = BenchArgs.Scratch(args, "io");
        try
        {
            var chunk = new byte[1 << 20];
            new Random(7).NextBytes(chunk);
            var plainPath = Path.Combine(dir, "plain.img");
            using var plain = File.OpenHandle(plainPath, FileMode.Create, FileAccess.ReadWrite);
            for (long off = 0; off < _size; off += chunk.Length) RandomAccess.Write(plain, chunk, off);

            using var engine = new EmbeddedEngine(Path.Combine(dir, "pool"));
            engine.CreateVolume("p/origin", _size);
            using (var o = engine.Open("p/origin"))
            {
                for (long off = 0; off < _size; off += chunk.Length) o.Write(off, chunk, fua: false);
                o.Flush();
            }
            engine.CreateSnapshot("p/origin", "s");
            // Start from clean page cache on both sides: writeback of the set-up data must not land in a measurement.
            using (var fs = new FileStream(plainPath, FileMode.Open, FileAccess.ReadWrite)) fs.Flush(flushToDisk: true);

            int clones = 0;
            IBlockDevice FreshClone()
            {
                var name = "p/clone" + clones++;
                engine.Clone("p/origin", "s", name);
                return engine.Open(name);
            }

            var rng = new Random(42);
            var readOffsets = Offsets(rng, 50_000);
            var writeOffsets = Offsets(rng, 20_000);
            long seqBytes = Math.Min(_size, 256L << 20);
            int seqOps = (int)(seqBytes / (1 << 20));
            var block = new byte[4096];
            var big = new byte[1 << 20];
            chunk.AsSpan(0, 4096).CopyTo(block);
            chunk.CopyTo(big, 0);

            Console.WriteLine($"io: {dir} ({_size >> 20} MiB each, page cache, best of {rounds} alternating rounds)");
            using var readClone = FreshClone(); // every block comes from the origin through the merged index
            Report("4K random read", rounds,
                () => { foreach (var off in readOffsets) RandomAccess.Read(plain, block, off); return readOffsets.Length; },
                () => { foreach (var off in readOffsets) readClone.Read(off, block); return readOffsets.Length; });
            Report("1M sequential read", rounds,
                () => { for (long off = 0; off < seqBytes; off += big.Length) RandomAccess.Read(plain, big, off); return seqOps; },
                () => { for (long off = 0; off < seqBytes; off += big.Length) readClone.Read(off, big); return seqOps; });

            // Writes overwrite blocks the clone already holds after the first round (steady state), as the plain
            // file's are. Each pattern gets its own clone so that one does not fragment the other.
            using var randClone = FreshClone();
            Report("4K random write", rounds,
                () => { foreach (var off in writeOffsets) RandomAccess.Write(plain, block, off); return writeOffsets.Length; },
                () => { foreach (var off in writeOffsets) randClone.Write(off, block, fua: false); return writeOffsets.Length; });
            using var seqClone = FreshClone();
            Report("1M sequential write", rounds,
                () => { for (long off = 0; off < seqBytes; off += big.Length) RandomAccess.Write(plain, big, off); return seqOps; },
                () => { for (long off = 0; off < seqBytes; off += big.Length) seqClone.Write(off, big, fua: false); return seqOps; });

            // First touch: a fresh clone allocates blocks in its sparse layer file; compared with a fresh sparse file.
            int sparse = 0;
            Report("4K random write, first touch (vs sparse file)", rounds,
                () => { using var f = Sparse(dir, sparse++); foreach (var off in writeOffsets) RandomAccess.Write(f, block, off); return writeOffsets.Length; },
                () => { using var c = FreshClone(); foreach (var off in writeOffsets) c.Write(off, block, fua: false); return writeOffsets.Length; });
            Report("1M sequential write, first touch (vs sparse file)", rounds,
                () => { using var f = Sparse(dir, sparse++); for (long off = 0; off < seqBytes; off += big.Length) RandomAccess.Write(f, big, off); return seqOps; },
                () => { using var c = FreshClone(); for (long off = 0; off < seqBytes; off += big.Length) c.Write(off, big, fua: false); return seqOps; });

            // The price of layering: a clone with scattered rewritten blocks reads sequentially in pieces.
            Report("1M sequential read, clone after random writes", rounds,
                () => { for (long off = 0; off < seqBytes; off += big.Length) RandomAccess.Read(plain, big, off); return seqOps; },
                () => { for (long off = 0; off < seqBytes; off += big.Length) randClone.Read(off, big); return seqOps; });
            return 0;
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static long[] Offsets(Random rng, int n)
    {
        var a = new long[n];
        for (int i = 0; i < n; i++) a[i] = rng.NextInt64(_size / 4096) * 4096;
        return a;
    }

    private static SafeFileHandle Sparse(string dir, int i)
    {
        var path = Path.Combine(dir, $"sparse{i}.img");
        return File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite);
    }

    private static void Report(string what, int rounds, Func<int> plain, Func<int> clone)
    {
        double bestPlain = 0, bestClone = 0;
        for (int r = 0; r < rounds; r++)
        {
            bestPlain = Math.Max(bestPlain, Rate(plain));
            bestClone = Math.Max(bestClone, Rate(clone));
        }
        Console.WriteLine($"  {what,-52} plain {bestPlain,9:N0} op/s  clone {bestClone,9:N0} op/s  ratio {bestClone / bestPlain:P0}");
    }

    private static double Rate(Func<int> f)
    {
        var sw = Stopwatch.StartNew();
        int n = f();
        return n / sw.Elapsed.TotalSeconds;
    }
}

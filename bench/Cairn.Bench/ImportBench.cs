using System.Diagnostics;
using Cairn.TestSupport;

namespace Cairn.Bench;

/// <summary>
/// Import of a 1 GiB raw image that is half zeros: <c>cairn volume import</c> (real CLI process, real server) against
/// <c>cp --sparse=always</c> of the same file in the same directory, alternating, each run starting from the same
/// state (its previous result removed, then <c>sync</c>). Pairs: the default import (acknowledged once it survives kill -9 of the server, like a
/// finished cp survives the death of cp) against cp, and <c>--sync</c> against <c>cp &amp;&amp; sync FILE</c>. The
/// CLI talks to the server's Unix socket, as a local CLI does by default; the streamed import over HTTP (what a remote
/// client does) is timed too. Then export and compare, and check the export is sparse.
/// </summary>
internal static class ImportBench
{
    public static int Run(string[] args)
    {
        long size = long.Parse(BenchArgs.Get(args, "mib", "1024"), System.Globalization.CultureInfo.InvariantCulture) << 20;
        int rounds = int.Parse(BenchArgs.Get(args, "rounds", "5"), System.Globalization.CultureInfo.InvariantCulture);
        var dir = BenchArgs.Scratch(args, "import");
        try
        {
            var src = Path.Combine(dir, "image.raw");
            MakeHalfZeroImage(src, size);
            using var server = new ServerProcess(Path.Combine(dir, "data"));
            var cp = new List<double>();
            var cpSync = new List<double>();
            var cairn = new List<double>();
            var cairnSync = new List<double>();
            var cairnHttp = new List<double>();
            // Each run first removes its own previous result and waits for writeback (sync), so every contender
            // starts from the same state: no dirty pages, and the memory its last result held just freed. (On this VM
            // writing into memory freed a moment ago is several times faster than into memory freed long ago, so
            // anything else compares memory states, not copiers.) Round 0 only warms up and is not counted.
            string cpOut = Path.Combine(dir, "copy.raw"), cpSyncOut = Path.Combine(dir, "copysync.raw");
            for (int r = 0; r <= rounds; r++)
            {
                void Count(List<double> into, double t) { if (r > 0) into.Add(t); }
                File.Delete(cpOut);
                Time("sync");
                Count(cp, Time("cp", "--sparse=always", src, cpOut));
                if (r > 0) server.Cli("volume", "destroy", $"bench/img{r - 1}");
                Time("sync");
                Count(cairn, ServerProcess.CliVia(server.Socket, "volume", "import", $"bench/img{r}", src, "--parents").TotalSeconds);
                File.Delete(cpSyncOut);
                Time("sync");
                Count(cpSync, Time("sh", "-c", $"cp --sparse=always '{src}' '{cpSyncOut}' && sync '{cpSyncOut}'"));
                if (r > 0) server.Cli("volume", "destroy", $"bench/sync{r - 1}");
                Time("sync");
                Count(cairnSync, ServerProcess.CliVia(server.Socket, "volume", "import", $"bench/sync{r}", src, "--parents", "--sync").TotalSeconds);
                if (r > 0) server.Cli("volume", "destroy", $"bench/http{r - 1}");
                Time("sync");
                Count(cairnHttp, server.Cli("volume", "import", $"bench/http{r}", src, "--parents").TotalSeconds);
            }
            var last = $"bench/img{rounds}";
            var exported = Path.Combine(dir, "exported.raw");
            var exportTime = server.Cli("volume", "export", last, exported).TotalSeconds;
            bool equal = Time("cmp", "-s", src, exported) >= 0;
            long allocated = Allocated(exported);

            Console.WriteLine($"import of a {size >> 20} MiB raw image, half zeros ({rounds} alternating rounds after a warm-up; source in the page cache; each run after removing its previous result and a sync):");
            Console.WriteLine("                                          best      median");
            void Row(string what, List<double> t) => Console.WriteLine($"  {what,-38}: {t.Min(),6:F3} s  {Median(t),6:F3} s");
            Row("cp --sparse=always", cp);
            Row("cairn volume import (unix socket)", cairn);
            Row("cp --sparse=always && sync FILE", cpSync);
            Row("cairn volume import --sync", cairnSync);
            Row("cairn volume import over HTTP (stream)", cairnHttp);
            Console.WriteLine($"  speed vs cp (best, median)            : {cp.Min() / cairn.Min():F2}, {Median(cp) / Median(cairn):F2} (target >= 0.80)");
            Console.WriteLine($"  --sync vs cp && sync (best, median)   : {cpSync.Min() / cairnSync.Min():F2}, {Median(cpSync) / Median(cairnSync):F2}");
            Console.WriteLine($"  HTTP stream vs cp (best, median)      : {cp.Min() / cairnHttp.Min():F2}, {Median(cp) / Median(cairnHttp):F2}");
            Console.WriteLine($"  export: {exportTime:F3} s, compares equal: {equal}, allocated {allocated >> 20} MiB of {size >> 20} MiB");
            return equal ? 0 : 1;
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }

    private static double Median(List<double> t)
    {
        var s = t.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    private static void MakeHalfZeroImage(string path, long size)
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write);
        var block = new byte[1 << 20];
        var zero = new byte[1 << 20];
        var rnd = new Random(1);
        // Alternate 1 MiB of data and 1 MiB of written zeros (real zeros, not holes: the importer must detect them).
        for (long off = 0; off < size; off += block.Length)
        {
            if ((off >> 20) % 2 == 0) { rnd.NextBytes(block); fs.Write(block); }
            else fs.Write(zero);
        }
        fs.Flush(true);
    }

    private static double Time(string cmd, params string[] args)
    {
        var r = Commands.RunAsync(cmd, args, TimeSpan.FromMinutes(30)).GetAwaiter().GetResult();
        return r.Succeeded ? r.Elapsed.TotalSeconds : -1;
    }

    private static long Allocated(string path)
    {
        var parts = Commands.Run("stat", "-c", "%b %B", path).ThrowIfFailed().StdOut.Trim().Split(' ');
        return long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture) * long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}

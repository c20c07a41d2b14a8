using System.Diagnostics;

namespace Cairn.Bench;

/// <summary>
/// Import of a 1 GiB raw image that is half zeros: <c>cairn volume import</c> (real CLI, real server, durable on
/// return) against <c>cp --sparse=always</c> of the same file in the same directory, alternating, best of N each.
/// Then export and compare, and check the export is sparse.
/// </summary>
internal static class ImportBench
{
    public static int Run(string[] args)
    {
        long size = long.Parse(BenchArgs.Get(args, "mib", "1024"), System.Globalization.CultureInfo.InvariantCulture) << 20;
        int rounds = int.Parse(BenchArgs.Get(args, "rounds", "3"), System.Globalization.CultureInfo.InvariantCulture);
        var dir = BenchArgs.Scratch(args, "import");
        try
        {
            var src = Path.Combine(dir, "image.raw");
            MakeHalfZeroImage(src, size);
            using var server = new ServerProcess(Path.Combine(dir, "data"));
            var cp = new List<double>();
            var cpSync = new List<double>();
            var cairn = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                var dst = Path.Combine(dir, $"copy{r}.raw");
                cp.Add(Time("cp", "--sparse=always", src, dst));
                var dst2 = Path.Combine(dir, $"copysync{r}.raw");
                cpSync.Add(Time("sh", "-c", $"cp --sparse=always '{src}' '{dst2}' && sync '{dst2}'"));
                cairn.Add(server.Cli("volume", "import", $"bench/img{r}", src, "--parents").TotalSeconds);
                File.Delete(dst);
                File.Delete(dst2);
            }
            var exported = Path.Combine(dir, "exported.raw");
            var exportTime = server.Cli("volume", "export", "bench/img0", exported).TotalSeconds;
            bool equal = Time("cmp", "-s", src, exported) >= 0;
            long allocated = Allocated(exported);

            double bestCp = cp.Min(), bestCpSync = cpSync.Min(), bestCairn = cairn.Min();
            Console.WriteLine($"import of a {size >> 20} MiB raw image, half zeros (best of {rounds}, page cache warm):");
            Console.WriteLine($"  cp --sparse=always          : {bestCp:F3} s");
            Console.WriteLine($"  cp --sparse=always && sync  : {bestCpSync:F3} s");
            Console.WriteLine($"  cairn volume import (durable): {bestCairn:F3} s  (CLI process start included)");
            Console.WriteLine($"  speed ratio vs cp           : {bestCp / bestCairn:F2} (target >= 0.80)");
            Console.WriteLine($"  speed ratio vs cp + sync    : {bestCpSync / bestCairn:F2}");
            Console.WriteLine($"  export: {exportTime:F3} s, compares equal: {equal}, allocated {allocated >> 20} MiB of {size >> 20} MiB");
            return equal ? 0 : 1;
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
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
        var psi = new ProcessStartInfo(cmd) { UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        return p.ExitCode == 0 ? sw.Elapsed.TotalSeconds : -1;
    }

    private static long Allocated(string path)
    {
        var psi = new ProcessStartInfo("stat", ["-c", "%b %B", path]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var parts = p.StandardOutput.ReadToEnd().Trim().Split(' ');
        p.WaitForExit();
        return long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture) * long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}

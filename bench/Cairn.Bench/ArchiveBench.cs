using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Cairn.Archive;
using Cairn.Core.Storage;
using Cairn.Engine;
using Cairn.TestSupport;

namespace Cairn.Bench;

/// <summary>
/// StarlingX archives (issue 12, "Figures"; docs/benchmarks.md), each figure side by side in one run, rounds alternating
/// which side goes first, medians and ratios reported:
/// <list type="bullet">
/// <item>export: a <c>--volume-gib</c> (10) embedded volume with <c>--data-mib</c> (1024) of random data in runs spread
/// over it, exported by <see cref="ArchiveWriter"/> from a snapshot, against the original StarlingX method on the same
/// data (<c>dd</c> of the full image to a temp file, then single-threaded <c>tar czf</c> of meta and image);</item>
/// <item>import: that archive read by <see cref="ArchiveReader"/> into a new embedded volume, against
/// <c>tar -xzf A -O volume-&lt;uuid&gt;.vol | dd of=plainfile</c>; the new volume's allocated space against the data
/// written;</item>
/// <item>throughput: a <c>--random-mib</c> (4096) volume of incompressible data exported by <see cref="ArchiveWriter"/>
/// against <c>pigz -6 -c</c> of the same raw file.</item>
/// </list>
/// Both sides end durable (Cairn's export fsyncs its archive and its import flushes the volume; the tools' outputs are
/// fsynced with <c>sync FILE</c> or <c>conv=fsync</c> inside the timing), and pigz is also timed without it. Cairn's
/// exports run twice per round: with its defaults (chunks found incompressible are stored) and at level 6 on every
/// chunk (the work pigz does). <c>--parts export,import,throughput</c> picks parts; sizes are options, so
/// <c>--volume-gib 1 --data-mib 64 --random-mib 128 --rounds 2</c> is a quick smoke run. Figures are reported, not
/// asserted: the exit code is non-zero only on errors.
/// </summary>
internal static class ArchiveBench
{
    private sealed record Sample(double Seconds, double CpuSeconds, string Load);

    public static int Run(string[] args) => RunAsync(args).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(string[] args)
    {
        static long Long(string[] a, string n, string d) => long.Parse(BenchArgs.Get(a, n, d), CultureInfo.InvariantCulture);
        long volume = Long(args, "volume-gib", "10") << 30, data = Long(args, "data-mib", "1024") << 20;
        long runSize = Long(args, "run-mib", "16") << 20, random = Long(args, "random-mib", "4096") << 20;
        int rounds = (int)Long(args, "rounds", "3");
        _workers = (int)Long(args, "workers", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture));
        var parts = BenchArgs.Get(args, "parts", "export,import,throughput").Split(',');
        foreach (var tool in new[] { "dd", "tar", "gzip", "pigz", "sync" })
            if (Commands.Run("bash", "-c", $"command -v {tool}").Exit() != 0) throw new InvalidOperationException($"{tool} is needed");
        var dir = BenchArgs.Scratch(args, "archive");
        var table = new List<string>();
        try
        {
            Console.WriteLine($"archive: {dir}, {Environment.ProcessorCount} cores, {rounds} rounds; load before: {IscsiBench.Uptime()}");
            if (parts.Contains("export") || parts.Contains("import"))
                await ThinAsync(dir, volume, data, runSize, rounds, parts.Contains("import"), table);
            if (parts.Contains("throughput"))
                await IncompressibleAsync(dir, random, rounds, table);
            Console.WriteLine($"load after: {IscsiBench.Uptime()}");
            Console.WriteLine();
            Console.WriteLine("| Figure | Original / tool (median) | Cairn (median) | Ratio (median; per round) |");
            Console.WriteLine("|---|---|---|---|");
            foreach (var row in table) Console.WriteLine(row);
            return 0;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Export and import of a thin volume with random data in runs (parts a and b).</summary>
    private static async Task ThinAsync(string dir, long volume, long data, long runSize, int rounds, bool import, List<string> table)
    {
        var id = Guid.NewGuid();
        var meta = new JsonObject
        {
            ["version"] = 1,
            ["volume"] = new JsonObject { ["id"] = id.ToString(), ["size"] = volume >> 30, ["display_name"] = "bench" },
            ["metadata"] = new JsonObject(),
            ["attachments"] = new JsonArray(),
        };
        // The same bytes at the same offsets go into the engine volume and into a sparse raw file: the raw file stands
        // for the original's LVM volume that its dd read (its holes read as zeros without touching a disk, which
        // favours the original).
        var raw = Path.Combine(dir, "raw.img");
        var metaFile = Path.Combine(dir, $"volume-{id}.meta");
        await File.WriteAllTextAsync(metaFile, meta.ToJsonString());
        using var engine = new EmbeddedEngine(Path.Combine(dir, "pool"));
        engine.CreateVolume("bench/thin", volume, parents: true);
        var runs = Math.Max(1, data / runSize);
        var stride = volume / runs;
        var rnd = new Random(11);
        var buf = new byte[1 << 20];
        using (var dev = engine.Open("bench/thin"))
        using (var fh = File.OpenHandle(raw, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(fh, volume);
            for (long r = 0; r < runs; r++)
            {
                // Each run starts at a 4 KiB-aligned place of its stride, so runs do not line up with 1 MiB blocks.
                var start = r * stride + rnd.NextInt64((stride - runSize) / 4096 + 1) * 4096;
                for (long off = 0; off < runSize; off += buf.Length)
                {
                    var n = (int)Math.Min(buf.Length, runSize - off);
                    rnd.NextBytes(buf.AsSpan(0, n));
                    dev.Write(start + off, buf.AsSpan(0, n), fua: false);
                    RandomAccess.Write(fh, buf.AsSpan(0, n), start + off);
                }
            }
            dev.Flush();
            RandomAccess.FlushToDisk(fh);
        }
        engine.CreateSnapshot("bench/thin", "export");
        var written = runs * runSize;
        Console.WriteLine($"thin volume: {volume >> 30} GiB, {written >> 20} MiB of random data in {runs} runs of {runSize >> 20} MiB; load {Load()}");

        var vol = $"volume-{id}.vol";
        var samples = new[] { "original", "cairn", "cairn-l6" }.ToDictionary(x => x, _ => new List<Sample>());
        var bytes = new Dictionary<string, long>();
        string? keep = null; // one of Cairn's archives (default options), for the import
        for (var r = 0; r < rounds; r++)
        {
            foreach (var side in Rotate(["original", .. CairnSides], r))
            {
                var outDir = Directory.CreateDirectory(Path.Combine(dir, $"out-{side}-{r}")).FullName;
                Sample s;
                if (side == "original")
                {
                    // StarlingX: dd the whole volume to a temp file, then tar czf the meta and the image.
                    var tmp = Directory.CreateDirectory(Path.Combine(dir, $"tmp-{r}")).FullName;
                    File.Copy(metaFile, Path.Combine(tmp, Path.GetFileName(metaFile)));
                    var archive = Path.Combine(outDir, ArchiveNames.FileName(id, DateTimeOffset.UtcNow));
                    s = await ToolAsync($"dd if={Q(raw)} of={Q(Path.Combine(tmp, vol))} bs=1M status=none && " +
                        $"tar czf {Q(archive)} -C {Q(tmp)} {Q(Path.GetFileName(metaFile))} {Q(vol)} && sync {Q(archive)}");
                    bytes[side] = Allocated(archive);
                    Directory.Delete(tmp, recursive: true);
                    Directory.Delete(outDir, recursive: true);
                }
                else
                {
                    using var snap = engine.OpenSnapshot("bench/thin", "export");
                    ArchiveWriteResult w = null!;
                    s = await MeasureAsync(async () => w = await ArchiveWriter.WriteAsync(new BlockDeviceImageSource(snap), id, meta,
                        outDir, ArchiveNames.FileName(id, DateTimeOffset.UtcNow), OptionsOf(side)));
                    bytes[side] = Allocated(w.Path);
                    if (keep is null && side == "cairn") keep = w.Path;
                    else Directory.Delete(outDir, recursive: true);
                }
                samples[side].Add(s);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  round {r + 1} export {side,-9}: {s.Seconds,7:F1} s  cpu {s.CpuSeconds,6:F1} s  load {s.Load}"));
            }
        }
        var what = $"Export, {volume >> 30} GiB volume with {written >> 20} MiB random";
        table.Add(Row($"{what}: original (dd + tar czf) vs Cairn", samples["original"], samples["cairn"], "s"));
        table.Add(Row($"{what}: original vs Cairn at level 6 everywhere (no stored chunks)", samples["original"], samples["cairn-l6"], "s"));
        table.Add(string.Create(CultureInfo.InvariantCulture,
            $"| Archive size on disk (original vs Cairn; Cairn at level 6 everywhere: {bytes["cairn-l6"] / 1048576.0:F0} MiB) | {bytes["original"] / 1048576.0:F0} MiB | {bytes["cairn"] / 1048576.0:F0} MiB | {(double)bytes["cairn"] / bytes["original"]:F3} |"));
        if (!import) return;

        var dd = new List<Sample>();
        var imp = new List<Sample>();
        long allocated = 0;
        string verified = "?";
        for (var r = 0; r < rounds; r++)
        {
            foreach (var side in Rotate(["tar|dd", "cairn"], r))
            {
                Sample s;
                if (side == "tar|dd")
                {
                    var plain = Path.Combine(dir, "plain.img");
                    s = await ToolAsync($"tar -xzf {Q(keep!)} -O {Q(vol)} | dd of={Q(plain)} bs=1M conv=fsync status=none");
                    File.Delete(plain);
                }
                else
                {
                    var name = $"bench/import{r}";
                    engine.CreateVolume(name, volume);
                    ArchiveReadResult result = null!;
                    using (var dev = engine.Open(name))
                        s = await MeasureAsync(async () =>
                        {
                            await using var f = BackupDirectory.OpenRead(Path.GetDirectoryName(keep!)!, Path.GetFileName(keep!));
                            result = await ArchiveReader.ReadAsync(f, (e, ct) => dev.WriteAsync(e.Offset, e.Data, fua: false, ct),
                                new ArchiveReadOptions { ExpectedVolumeId = id });
                            dev.Flush();
                        });
                    allocated = engine.Get(name)!.Referenced;
                    verified = result.DigestVerified ? "digest verified" : "digest NOT verified";
                    engine.Destroy(name);
                }
                (side == "cairn" ? imp : dd).Add(s);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  round {r + 1} import {side,-8}: {s.Seconds,7:F1} s  cpu {s.CpuSeconds,6:F1} s  load {s.Load}"));
            }
        }
        table.Add(Row("Import of Cairn's archive (tool: tar -xzf -O \\| dd conv=fsync into a plain file)", dd, imp, "s"));
        table.Add(string.Create(CultureInfo.InvariantCulture,
            $"| Imported volume's allocated space vs data written ({verified}) | {written / 1048576.0:F0} MiB written | {allocated / 1048576.0:F1} MiB | {(double)allocated / written:F4} |"));
        engine.DestroySnapshot("bench/thin", "export");
        engine.Destroy("bench/thin");
        File.Delete(raw);
        if (keep is not null) Directory.Delete(Path.GetDirectoryName(keep)!, recursive: true);
    }

    /// <summary>Export of a volume full of random data against pigz of the raw file (part c).</summary>
    private static async Task IncompressibleAsync(string dir, long size, int rounds, List<string> table)
    {
        var raw = Path.Combine(dir, "random.img");
        using var engine = new EmbeddedEngine(Path.Combine(dir, "pool-random"));
        engine.CreateVolume("bench/random", size, parents: true);
        var rnd = new Random(5);
        var buf = new byte[1 << 20];
        using (var dev = engine.Open("bench/random"))
        using (var fh = File.OpenHandle(raw, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            for (long off = 0; off < size; off += buf.Length)
            {
                rnd.NextBytes(buf);
                dev.Write(off, buf, fua: false);
                RandomAccess.Write(fh, buf, off);
            }
            dev.Flush();
            RandomAccess.FlushToDisk(fh);
        }
        engine.CreateSnapshot("bench/random", "export");
        Console.WriteLine($"incompressible volume: {size >> 20} MiB; load {Load()}");
        var id = Guid.NewGuid();
        var pigz = new List<Sample>();
        var pigzNoSync = new List<Sample>();
        var cairn = CairnSides.ToDictionary(x => x, _ => new List<Sample>());
        var outFile = Path.Combine(dir, "p.gz");
        for (var r = 0; r < rounds; r++)
        {
            foreach (var side in Rotate(["pigz", .. CairnSides], r))
            {
                Sample s;
                if (side == "pigz")
                {
                    var compress = await ToolAsync($"pigz -6 -c {Q(raw)} > {Q(outFile)}");
                    var sync = await ToolAsync($"sync {Q(outFile)}");
                    pigzNoSync.Add(compress);
                    s = compress with { Seconds = compress.Seconds + sync.Seconds, CpuSeconds = compress.CpuSeconds + sync.CpuSeconds };
                    pigz.Add(s);
                    File.Delete(outFile);
                }
                else
                {
                    var outDir = Directory.CreateDirectory(Path.Combine(dir, $"rand-{r}")).FullName;
                    using var snap = engine.OpenSnapshot("bench/random", "export");
                    s = await MeasureAsync(() => ArchiveWriter.WriteAsync(new BlockDeviceImageSource(snap), id,
                        new JsonObject { ["version"] = 1 }, outDir, ArchiveNames.FileName(id, DateTimeOffset.UtcNow), OptionsOf(side)));
                    Directory.Delete(outDir, recursive: true);
                    cairn[side].Add(s);
                }
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  round {r + 1} incompressible {side,-9}: {size / 1048576.0 / s.Seconds,6:F1} MiB/s  {s.Seconds,6:F1} s  cpu {s.CpuSeconds,6:F1} s  load {s.Load}"));
            }
        }
        var mib = size / 1048576.0;
        var what = $"Export throughput, {size >> 20} MiB incompressible";
        table.Add(RateRow($"{what}: pigz -6 -c + sync vs Cairn at level 6 everywhere (the same work)", mib, pigz, cairn["cairn-l6"]));
        table.Add(RateRow($"{what}: pigz -6 -c (no fsync) vs Cairn at level 6 everywhere", mib, pigzNoSync, cairn["cairn-l6"]));
        table.Add(RateRow($"{what}: pigz -6 -c + sync vs Cairn (default: incompressible chunks stored)", mib, pigz, cairn["cairn"]));
        File.Delete(raw);
    }

    // Cairn's two configurations: the default, and level 6 on every chunk (StoreIncompressible off: pigz's work).
    private static readonly string[] CairnSides = ["cairn", "cairn-l6"];

    private static int _workers = Environment.ProcessorCount;

    private static ArchiveWriteOptions OptionsOf(string side) => new() { StoreIncompressible = side != "cairn-l6", Workers = _workers };

    /// <summary>The sides in round <paramref name="r"/>'s order: each round starts one further, so each side goes first in turn.</summary>
    private static string[] Rotate(string[] sides, int r) => [.. sides.Skip(r % sides.Length), .. sides.Take(r % sides.Length)];

    /// <summary>Runs a shell command; wall time, the command's CPU (its children's, from GNU time) and the load.</summary>
    private static async Task<Sample> ToolAsync(string script)
    {
        var cpuFile = Path.Combine(Path.GetTempPath(), $"cairn-bench-cpu-{Environment.ProcessId}");
        // GNU time around bash -c: %U and %S include every child the shell waited for.
        var sw = Stopwatch.StartNew();
        var r = await Commands.RunAsync("/usr/bin/time", ["-o", cpuFile, "-f", "%U %S", "bash", "-c", "set -eo pipefail; " + script], TimeSpan.FromHours(1));
        var seconds = sw.Elapsed.TotalSeconds;
        if (r.Exit() != 0) throw new InvalidOperationException($"`{script}` failed: {r.Output()}");
        var cpu = File.ReadAllText(cpuFile).Trim().Split(' ').Sum(x => double.Parse(x, CultureInfo.InvariantCulture));
        File.Delete(cpuFile);
        return new Sample(seconds, cpu, Load());
    }

    /// <summary>Times an in-process operation: wall time and this process's CPU over it.</summary>
    private static async Task<Sample> MeasureAsync(Func<Task> op)
    {
        var p = Process.GetCurrentProcess();
        var cpu0 = p.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        await op();
        var seconds = sw.Elapsed.TotalSeconds;
        p.Refresh();
        return new Sample(seconds, (p.TotalProcessorTime - cpu0).TotalSeconds, Load());
    }

    private static string Row(string what, List<Sample> tool, List<Sample> cairn, string unit)
    {
        double t = Median(tool.Select(x => x.Seconds)), c = Median(cairn.Select(x => x.Seconds));
        var perRound = string.Join(", ", tool.Zip(cairn, (a, b) => (a.Seconds / b.Seconds).ToString("F1", CultureInfo.InvariantCulture)));
        return string.Create(CultureInfo.InvariantCulture,
            $"| {what} | {t:F1} {unit} (cpu {Median(tool.Select(x => x.CpuSeconds)):F1} s) | {c:F1} {unit} (cpu {Median(cairn.Select(x => x.CpuSeconds)):F1} s) | **{t / c:F1}× faster** ({perRound}) |");
    }

    private static string RateRow(string what, double mib, List<Sample> tool, List<Sample> cairn)
    {
        double t = mib / Median(tool.Select(x => x.Seconds)), c = mib / Median(cairn.Select(x => x.Seconds));
        var perRound = string.Join(", ", tool.Zip(cairn, (a, b) => (a.Seconds / b.Seconds).ToString("F2", CultureInfo.InvariantCulture)));
        return string.Create(CultureInfo.InvariantCulture,
            $"| {what} | {t:F1} MiB/s (cpu {Median(tool.Select(x => x.CpuSeconds)):F1} s) | {c:F1} MiB/s (cpu {Median(cairn.Select(x => x.CpuSeconds)):F1} s) | **{c / t:F2}×** ({perRound}) |");
    }

    /// <summary>Bytes a file occupies on disk (st_blocks × 512), as <c>du</c> counts them.</summary>
    private static long Allocated(string path)
    {
        var r = Commands.Run("stat", "-c", "%b %B", path);
        if (!r.Succeeded) throw new InvalidOperationException(r.Output());
        var f = r.StdOut.Trim().Split(' ');
        return long.Parse(f[0], CultureInfo.InvariantCulture) * long.Parse(f[1], CultureInfo.InvariantCulture);
    }

    private static string Load() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.Order().ToArray();
        return a.Length == 0 ? double.NaN : a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    private static string Q(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

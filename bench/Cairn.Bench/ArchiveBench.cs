using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Cairn.Archive;
using Cairn.TestSupport;

namespace Cairn.Bench;

/// <summary>
/// StarlingX archive export (docs/benchmarks.md, "Archive export"): an incompressible image of --mib MiB (default 512)
/// exported by <see cref="ArchiveWriter"/> (parallel gzip members, level 6) against <c>pigz -6</c> and single-threaded
/// <c>gzip -6</c> of the raw file, in the same run; prints MiB/s and the ratio to pigz.
/// </summary>
internal static class ArchiveBench
{
    public static int Run(string[] args) => RunAsync(args).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(string[] args)
    {
        var dir = BenchArgs.Scratch(args, "archive");
        var mib = args.SkipWhile(a => a != "--mib").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(512);
        try
        {
            var image = Path.Combine(dir, "image.raw");
            var rnd = new Random(7);
            var buf = new byte[1 << 20];
            await using (var f = File.Create(image))
                for (var i = 0; i < mib; i++) { rnd.NextBytes(buf); await f.WriteAsync(buf); }
            var id = Guid.NewGuid();
            var sw = Stopwatch.StartNew();
            ArchiveWriteResult w;
            using (var src = new FileImageSource(image))
                w = await ArchiveWriter.WriteAsync(src, id, new JsonObject { ["version"] = 1 }, dir, ArchiveNames.FileName(id, DateTimeOffset.UtcNow));
            var cairn = sw.Elapsed.TotalSeconds;
            double Tool(string cmd)
            {
                var t = Stopwatch.StartNew();
                var r = Commands.RunAsync("bash", ["-c", cmd], TimeSpan.FromMinutes(30)).GetAwaiter().GetResult();
                if (r.Exit() != 0) throw new InvalidOperationException(r.Output());
                return t.Elapsed.TotalSeconds;
            }
            var pigz = Tool($"pigz -6 -c '{image}' > '{dir}/p.gz'");
            var gzip = Tool($"gzip -6 -c '{image}' > '{dir}/g.gz'");
            Console.WriteLine(FormattableString.Invariant(
                $"archive export, {mib} MiB incompressible, {Environment.ProcessorCount} cores: cairn {mib / cairn:F1} MiB/s ({w.ArchiveBytes >> 20} MiB), pigz -6 {mib / pigz:F1} MiB/s, gzip -6 {mib / gzip:F1} MiB/s; cairn/pigz {pigz / cairn:F2}x, cairn/gzip {gzip / cairn:F2}x"));
            return 0;
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

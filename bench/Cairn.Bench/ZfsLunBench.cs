using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Cairn.TestSupport;

namespace Cairn.Bench;

/// <summary>
/// The LUN clone API on ZFS (zfs-fuse) with tgt as the exporter, against the original's way on the same pool and the
/// same tgtd: one <c>zfs clone</c> and one tgt target (new target, LUN on the clone's image file, initiator bound) per
/// item, in a loop, then the reverse to delete. Cairn runs a 1,000-item create job on an empty pool, a second one with
/// those 1,000 still there (per-item cost as the pool grows), and the deletes.
/// </summary>
internal static class ZfsLunBench
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(string[] args)
    {
        int n = int.Parse(BenchArgs.Get(args, "count", "1000"), Inv);
        // zfs-fuse mounts at most about 1,000 filesystems (the 1,018th mount fails with "Input/output error"), and
        // with tgt every clone is mounted: two 1,000-item jobs side by side cannot exist there. --second false skips
        // the "already there" job; run it with --count 490 to see the per-item cost as the pool fills.
        bool second = BenchArgs.Get(args, "second", "true") != "false";
        var dir = BenchArgs.Scratch(args, "lun-zfs");
        var pool = "cbench" + Guid.NewGuid().ToString("N")[..6];
        using var zfs = ZfsFuse.EnsureRunning();
        try
        {
            var file = Path.Combine(dir, "pool.img");
            using (var f = File.Create(file)) f.SetLength(16L << 30);
            Run("zpool", "create", "-m", Path.Combine(dir, "mnt"), pool, file);
            using var tgtd = new TgtdProcess(null, "unused");
            using var server = new ServerProcess(Path.Combine(dir, "cairn"), "--exporter", "tgt", "--tgt-control-port", tgtd.ControlPort.ToString(Inv), "--pools", pool + ":zfs");
            using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromMinutes(30) };
            Send(http, HttpMethod.Post, "/cairn/v1/volumes", $$"""{"name":"{{pool}}/images/golden","size":10737418240,"parents":true}""");
            Send(http, HttpMethod.Post, "/cairn/v1/snapshots", $$"""{"name":"{{pool}}/images/golden@1"}""");

            // Cairn: an empty pool, then with those clones and targets still there.
            var c1 = Job(http, HttpMethod.Post, Body(pool, "a", n, create: true));
            var c2 = second ? Job(http, HttpMethod.Post, Body(pool, "b", n, create: true)) : null;
            var live = Run("tgtadm", "-C", tgtd.ControlPort.ToString(Inv), "--lld", "iscsi", "--op", "show", "--mode", "target").Split('\n').Count(l => l.StartsWith("Target ", StringComparison.Ordinal));
            var d2 = second ? Job(http, HttpMethod.Delete, Body(pool, "b", n, create: false)) : null;
            var d1 = Job(http, HttpMethod.Delete, Body(pool, "a", n, create: false));

            // The original's way, same pool, same tgtd.
            Run("zfs", "create", "-o", "mountpoint=" + Path.Combine(dir, "orig"), pool + "/orig");
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < n; i++)
            {
                var ds = $"{pool}/orig/n{i:D5}";
                Run("zfs", "clone", pool + "/images/golden@1", ds);
                var tid = (i + 10_000).ToString(Inv);
                Adm(tgtd, "--op", "new", "--mode", "target", "--tid", tid, "-T", Wwn("orig", i));
                Adm(tgtd, "--op", "new", "--mode", "logicalunit", "--tid", tid, "--lun", "1", "-b", Path.Combine(dir, "orig", $"n{i:D5}", "volume.img"));
                Adm(tgtd, "--op", "bind", "--mode", "target", "--tid", tid, "-Q", Init("orig", i));
            }
            var loopCreate = sw.Elapsed.TotalSeconds;
            sw.Restart();
            for (int i = 0; i < n; i++)
            {
                Adm(tgtd, "--op", "delete", "--mode", "target", "--force", "--tid", (i + 10_000).ToString(Inv));
                Retry(() => Run("zfs", "destroy", $"{pool}/orig/n{i:D5}"));
            }
            var loopDelete = sw.Elapsed.TotalSeconds;

            Console.WriteLine($"LUN clone API on zfs-fuse + tgt ({n}-item jobs; job_time, one run each):");
            Console.WriteLine($"  cairn create, empty pool:           {c1.Job:F2} s (clone {c1.CloneSecs:F2} s, target {c1.Target:F2} s), per item {c1.Job / n * 1000:F2} ms");
            if (c2 is not null && d2 is not null)
            {
                Console.WriteLine($"  cairn create, {n} already there:   {c2.Job:F2} s (clone {c2.CloneSecs:F2} s, target {c2.Target:F2} s), per item {c2.Job / n * 1000:F2} ms, ratio {c2.Job / c1.Job:F2}x; tgtd then had {live} targets");
                Console.WriteLine($"  cairn delete, {n} already there:   {d2.Job:F2} s, ratio {d2.Job / d1.Job:F2}x");
            }
            else Console.WriteLine($"  tgtd had {live} targets after the create");
            Console.WriteLine($"  cairn delete, empty pool after:     {d1.Job:F2} s (target {d1.Target:F2} s, clone {d1.CloneSecs:F2} s)");
            Console.WriteLine($"  original's way (zfs clone + tgtadm per item, loop): create {loopCreate:F2} s, delete {loopDelete:F2} s");
            Console.WriteLine($"  ratio (loop / cairn): create {loopCreate / c1.Job:F2}x, delete {loopDelete / d1.Job:F2}x");
            return 0;
        }
        finally
        {
            ZfsFuse.DestroyPool(pool);
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    private sealed record Figures(double Job, double CloneSecs, double Target);

    private static Figures Job(HttpClient http, HttpMethod method, string body)
    {
        var id = (string)Send(http, method, "/lun/api/v1.0/clone", body)["job_id"]!;
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var s = Send(http, HttpMethod.Get, "/lun/api/v1.0/clone_status/" + id);
            var st = (string)s["status"]!;
            if (st == "failed") throw new InvalidOperationException("job failed: " + s.ToJsonString());
            if (st == "complete") return new Figures((double)s["job_time"]!, (double)s["clone_time"]!, (double)s["target_time"]!);
            if (sw.Elapsed > TimeSpan.FromMinutes(30)) throw new TimeoutException("job " + id);
            Thread.Sleep(50);
        }
    }

    private static string Wwn(string p, int i) => $"iqn.2026-11.org.example.zbench:{p}.n{i:D5}";
    private static string Init(string p, int i) => $"iqn.2026-11.org.example.zbench:init.{p}.n{i:D5}";

    private static string Body(string pool, string p, int count, bool create)
    {
        var sb = new StringBuilder("{\"clones\":[");
        for (int i = 0; i < count; i++)
        {
            sb.Append(i == 0 ? "" : ",");
            if (create)
                sb.Append(Inv, $"{{\"src\":\"{pool}/images/golden@1\",\"dst\":\"{pool}/{p}/n{i:D5}\",\"wwn\":\"{Wwn(p, i)}\",\"initiators\":[\"{Init(p, i)}\"],\"createParent\":1}}");
            else
                sb.Append(Inv, $"{{\"dst\":\"{pool}/{p}/n{i:D5}\",\"wwn\":\"{Wwn(p, i)}\",\"deleteClones\":1}}");
        }
        return sb.Append("]}").ToString();
    }

    private static void Adm(TgtdProcess tgtd, params string[] args) => tgtd.Adm(true, args);

    private static void Retry(Action a)
    {
        // zfs-fuse answers "dataset is busy" for a moment after a mount.
        for (int i = 0; ; i++)
        {
            try { a(); return; }
            catch (InvalidOperationException) when (i < 20) { Thread.Sleep(50); }
        }
    }

    internal static string Run(string tool, params string[] args) => Run(tool, args, check: true);

    internal static string Run(string tool, string[] args, bool check)
    {
        var r = Commands.Run(tool, args);
        if (check && !r.Succeeded) throw new InvalidOperationException($"{tool} {string.Join(' ', args)}: {r.StdErr.Trim()}");
        return r.StdOut;
    }

    private static string Run(string tool, string a, string b, string c, bool check) => Run(tool, [a, b, c], check);

    private static JsonNode Send(HttpClient http, HttpMethod method, string path, string body = "")
    {
        using var req = new HttpRequestMessage(method, path);
        if (body.Length > 0) req.Content = new StringContent(body, Encoding.UTF8, "application/json");
        using var r = http.Send(req);
        var text = r.Content.ReadAsStringAsync().Result;
        if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"{method} {path}: {(int)r.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }
}

/// <summary>The zfs-fuse daemon: started in the foreground for the bench when none runs, stopped at the end if started here.</summary>
internal sealed class ZfsFuse : IDisposable
{
    private readonly Process? _own;

    private ZfsFuse(Process? own) => _own = own;

    public static ZfsFuse EnsureRunning()
    {
        if (Answers()) return new ZfsFuse(null);
        var p = Process.Start(new ProcessStartInfo("zfs-fuse", "-n") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true })!;
        var sw = Stopwatch.StartNew();
        while (!Answers())
        {
            if (p.HasExited || sw.Elapsed > TimeSpan.FromSeconds(30)) throw new InvalidOperationException("zfs-fuse did not start");
            Thread.Sleep(100);
        }
        return new ZfsFuse(p);
    }

    private static bool Answers()
    {
        try
        {
            return Commands.Run("zpool", "list").Succeeded;
        }
        catch (Cairn.Core.CairnException)
        {
            return false;
        }
    }

    /// <summary>
    /// Destroys a pool the bench made, trying again for up to 30 s while zfs-fuse still calls it busy (a server that
    /// just exited may still hold its files for a moment); a pool left behind would outlive the deleted backing file.
    /// </summary>
    public static void DestroyPool(string pool)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            ZfsLunBench.Run("zpool", ["destroy", "-f", pool], check: false);
            if (!ZfsLunBench.Run("zpool", ["list", "-H", "-o", "name"], check: false).Split('\n').Contains(pool)) return;
            if (sw.Elapsed > TimeSpan.FromSeconds(30))
            {
                Console.Error.WriteLine($"warning: zpool {pool} could not be destroyed; run: zpool destroy -f {pool}");
                return;
            }
            Thread.Sleep(500);
        }
    }

    public void Dispose()
    {
        if (_own is null) return;
        try
        {
            // SIGTERM lets zfs-fuse close its pools cleanly (it takes a few seconds); SIGKILL only if it hangs.
            ZfsLunBench.Run("kill", [_own.Id.ToString(CultureInfo.InvariantCulture)], check: false);
            if (!_own.WaitForExit(30_000)) _own.Kill();
        }
        catch (InvalidOperationException) { }
        _own.Dispose();
    }
}

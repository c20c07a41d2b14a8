using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;

namespace Cairn.Bench;

internal static partial class IscsiBench
{
    /// <summary>
    /// A fresh server: RSS idle with one target, with <paramref name="sessions"/> idle logged-in sessions, and before and
    /// after <paramref name="targets"/> more targets (each on its own O(1) clone, created through the admin API).
    /// </summary>
    private static string MeasureMemory(string dir, int mib, int sessions, int targets)
    {
        using var server = new ServerProcess(Path.Combine(dir, "memdata"));
        int pid = FindServerPid(server.DataDir);
        server.Cli("volume", "create", "mem/disk", "--size", $"{mib}M", "--parents");
        server.Cli("target", "create", TargetIqn, "--volume", "mem/disk", "--initiator", WriteInitiator);
        // Warm-up: one login/logout, so the figures do not count JIT and first-use allocations as per-session cost.
        using (var warm = BenchInitiator.Login(server.IscsiPort, TargetIqn, WriteInitiator, 0, 99)) warm.Logout();
        long idle = SettledRss(pid);

        var open = new List<BenchInitiator>();
        long withSessions;
        try
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < sessions; i++)
            {
                if (sw.Elapsed > TimeSpan.FromSeconds(120)) throw new InvalidOperationException("logins took over 120 s");
                open.Add(BenchInitiator.Login(server.IscsiPort, TargetIqn, WriteInitiator, 0, (uint)(100 + i)));
            }
            withSessions = SettledRss(pid);
        }
        finally
        {
            foreach (var i in open) i.Dispose();
        }

        using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(60) };
        Post(http, "/cairn/v1/snapshots", new { name = "mem/disk@gold" });
        Post(http, "/cairn/v1/folders", new { name = "mem/nodes", parents = true });
        var deadline = Stopwatch.StartNew();
        // Warm-up: 20 clones and targets first (JIT, HTTP and store caches), then the measured batch.
        const int Warm = 20;
        (string, object) Clone(int i) => ("/cairn/v1/clones", new { source = "mem/disk@gold", target = $"mem/nodes/n{i:D5}", parents = false });
        (string, object) Target(int i) => ("/cairn/v1/targets", new
        {
            iqn = $"iqn.2026-01.org.cairn:node-{i:D5}",
            volume = $"mem/nodes/n{i:D5}",
            initiators = new[] { $"iqn.2026-01.org.cairn:init-{i:D5}" },
        });
        ParallelPosts(0, Warm, Clone, http, deadline);
        ParallelPosts(0, Warm, Target, http, deadline);
        long beforeClones = SettledRss(pid);
        ParallelPosts(Warm, targets, Clone, http, deadline);
        long withClones = SettledRss(pid);
        ParallelPosts(Warm, targets, Target, http, deadline);
        long withTargets = SettledRss(pid);

        var ic = CultureInfo.InvariantCulture;
        return string.Create(ic, $"""
              cairn idle (1 target, no session)         : {idle / 1024.0,8:F1} MiB
              cairn with {sessions} idle sessions            : {withSessions / 1024.0,8:F1} MiB  → {(withSessions - idle) / (double)sessions,6:F1} KiB per session
              cairn after warm-up ({Warm} clones + targets): {beforeClones / 1024.0,8:F1} MiB
              cairn with {targets} clones (no targets yet)    : {withClones / 1024.0,8:F1} MiB  → {(withClones - beforeClones) / 1024.0,6:F1} MiB per {targets} clones
              cairn with {targets} more targets               : {withTargets / 1024.0,8:F1} MiB  → {(withTargets - withClones) / 1024.0 * 1000 / targets,6:F1} MiB per 1,000 targets
            """);
    }

    /// <summary>tgtd's RSS idle and with the same number of idle sessions, for comparison.</summary>
    private static string MeasureTgtdSessions(string image, int sessions)
    {
        using var tgtd = new TgtdProcess(image, TargetIqn);
        long idle = SettledRss(tgtd.Pid);
        var open = new List<BenchInitiator>();
        try
        {
            for (int i = 0; i < sessions; i++) open.Add(BenchInitiator.Login(tgtd.Port, TargetIqn, WriteInitiator, 1, (uint)(100 + i)));
            long with = SettledRss(tgtd.Pid);
            return string.Create(CultureInfo.InvariantCulture,
                $"  tgtd idle {idle / 1024.0:F1} MiB, with {sessions} idle sessions {with / 1024.0:F1} MiB → {(with - idle) / (double)sessions:F1} KiB per session");
        }
        finally
        {
            foreach (var i in open) i.Dispose();
        }
    }

    /// <summary>RSS after it has stopped moving (sampled every 500 ms, at most 10 s), in KiB.</summary>
    private static long SettledRss(int pid)
    {
        long last = RssKiB(pid);
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            Thread.Sleep(500);
            long now = RssKiB(pid);
            if (Math.Abs(now - last) < 256) return now;
            last = now;
        }
        return last;
    }

    private static void Post(HttpClient http, string path, object body)
    {
        using var r = http.PostAsJsonAsync(path, body).GetAwaiter().GetResult();
        if (!r.IsSuccessStatusCode)
            throw new InvalidOperationException($"POST {path}: {(int)r.StatusCode} {r.Content.ReadAsStringAsync().GetAwaiter().GetResult()}");
    }

    private static void ParallelPosts(int from, int count, Func<int, (string Path, object Body)> make, HttpClient http, Stopwatch deadline)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(300) - deadline.Elapsed);
        Parallel.ForEachAsync(Enumerable.Range(from, count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cts.Token }, async (i, ct) =>
        {
            var (path, body) = make(i);
            using var r = await http.PostAsJsonAsync(path, body, ct);
            if (!r.IsSuccessStatusCode)
                throw new InvalidOperationException($"POST {path}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync(ct)}");
        }).GetAwaiter().GetResult();
    }
}

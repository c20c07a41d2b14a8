using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Cairn.Bench;

/// <summary>
/// The Block Storage (Cinder-compatible) API of a real <c>cairn serve</c> (embedded engine, Keystone-compatible
/// tokens from its own identity service: the token is validated on every request, as a real client has it), from 16
/// concurrent clients (one HttpClient each): volume creates polled until <c>available</c>, deletes polled until gone,
/// creates from one snapshot, <c>GET /volumes/detail?limit=1000</c> page latency with 10,000 volumes in the project,
/// and the server's RSS per 10,000 volumes. With <c>--cinder URL</c> the same scenario (its own counts) runs against a
/// real OpenStack Cinder (noauth) in the same run, and the ratios are printed.
/// </summary>
internal static class BlockStorageBench
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>One Block Storage service under test.</summary>
    private sealed record Target(string Name, string Url, string Project, string Token, int[] Pids);

    private sealed record Figures(
        int Count, TimeSpan Creates, double[] CreateMs, TimeSpan Deletes, double[] DeleteMs, TimeSpan SnapCreates,
        double[] SnapCreateMs, int Listed, int Pages, double PageP50, double PageP99, double PageMax,
        long RssBefore, long RssAfter, int RssVolumes);

    public static int Run(string[] args)
    {
        ThreadPool.SetMinThreads(64, 64);
        int n = Int(args, "count", 1000), clients = Int(args, "clients", 16), list = Int(args, "list-volumes", 10000);
        int page = Int(args, "page", 1000), rounds = Int(args, "rounds", 20);
        var cinderUrl = BenchArgs.Get(args, "cinder", "");
        var dir = BenchArgs.Scratch(args, "blockstorage");
        try
        {
            Figures? cairn = null;
            var skipCairn = args.Contains("--skip-cairn");
            var env = Environment.GetEnvironmentVariable("CAIRN_BENCH_SERVER_ENV");
            Environment.SetEnvironmentVariable("CAIRN_BENCH_SERVER_ENV", "CAIRN_BLOCK_STORAGE_POOL=bench;" + env);
            if (!skipCairn)
            using (var server = new ServerProcess(dir))
            {
                Environment.SetEnvironmentVariable("CAIRN_BENCH_SERVER_ENV", env);
                var target = KeystoneTarget(server, dir);
                Console.WriteLine($"Cairn {server.Url} (pid {target.Pids[0]}), keystone token, load average {LoadAvg()}");
                cairn = Measure(target, n, clients, list, page, rounds);
                Print(target.Name, cairn);
            }
            if (cinderUrl.Length == 0) return 0;

            int cn = Int(args, "cinder-count", n), cl = Int(args, "cinder-list-volumes", list);
            var pids = BenchArgs.Get(args, "cinder-pids", "").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
            var project = BenchArgs.Get(args, "cinder-project", Guid.NewGuid().ToString("N"));
            var cinder = new Target("Cinder", cinderUrl.TrimEnd('/'), project, "admin:" + project, pids);
            Console.WriteLine($"Cinder {cinder.Url} (pids {string.Join(',', pids)}), noauth, load average {LoadAvg()}");
            var c = Measure(cinder, cn, clients, cl, page, rounds);
            Print("Cinder", c);
            if (cairn is null) return 0;
            Console.WriteLine($"Ratios (Cinder / Cairn, per volume where the counts differ), load average {LoadAvg()}:");
            Ratio("creates to available, wall per volume", c.Creates.TotalMilliseconds / c.Count, cairn.Creates.TotalMilliseconds / cairn.Count);
            Ratio("create p50", P(c.CreateMs, 50), P(cairn.CreateMs, 50));
            Ratio("deletes until gone, wall per volume", c.Deletes.TotalMilliseconds / c.Count, cairn.Deletes.TotalMilliseconds / cairn.Count);
            Ratio("creates from a snapshot, wall per volume", c.SnapCreates.TotalMilliseconds / c.Count, cairn.SnapCreates.TotalMilliseconds / cairn.Count);
            Ratio($"detail page p50 (Cinder {c.Listed}, Cairn {cairn.Listed} volumes)", c.PageP50, cairn.PageP50);
            Ratio("detail page p99", c.PageP99, cairn.PageP99);
            if (c.RssVolumes > 0 && cairn.RssVolumes > 0)
                Ratio("RSS per volume", (double)(c.RssAfter - c.RssBefore) / c.RssVolumes, (double)(cairn.RssAfter - cairn.RssBefore) / cairn.RssVolumes);
            return 0;
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }

    private static void Ratio(string what, double cinder, double cairn) =>
        Console.WriteLine($"  {what,-60}: {cinder / cairn,8:F1}×");

    private static int Int(string[] args, string name, int fallback) =>
        int.Parse(BenchArgs.Get(args, name, fallback.ToString(Inv)), Inv);

    private static string LoadAvg() => File.ReadAllText("/proc/loadavg").Trim();

    /// <summary>A token from the server's identity service for its bootstrap admin (password from the 0600 file).</summary>
    private static Target KeystoneTarget(ServerProcess server, string dir)
    {
        var pwFile = Path.Combine(dir, "admin-password");
        var sw = Stopwatch.StartNew();
        while (!File.Exists(pwFile) && sw.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(50);
        var password = File.ReadAllText(pwFile).Trim();
        using var http = new HttpClient();
        var body = new JsonObject
        {
            ["auth"] = new JsonObject
            {
                ["identity"] = new JsonObject
                {
                    ["methods"] = new JsonArray("password"),
                    ["password"] = new JsonObject { ["user"] = new JsonObject { ["name"] = "admin", ["domain"] = new JsonObject { ["id"] = "default" }, ["password"] = password } },
                },
                ["scope"] = new JsonObject { ["project"] = new JsonObject { ["name"] = "admin", ["domain"] = new JsonObject { ["id"] = "default" } } },
            },
        };
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var r = http.PostAsync(server.Url + "/identity/v3/auth/tokens", content).Result;
        var text = r.Content.ReadAsStringAsync().Result;
        if (r.StatusCode != HttpStatusCode.Created) throw new InvalidOperationException($"token: {(int)r.StatusCode} {text}");
        var token = r.Headers.GetValues("X-Subject-Token").Single();
        var project = JsonNode.Parse(text)!["token"]!["project"]!["id"]!.GetValue<string>();
        return new Target("Cairn", server.Url, project, token, [ServerPid(server)]);
    }

    private static int ServerPid(ServerProcess server) => server.Pid;

    private static Figures Measure(Target t, int n, int clients, int list, int page, int rounds)
    {
        var http = Enumerable.Range(0, clients).Select(_ => Client(t)).ToArray();
        try
        {
            var p = $"/v3/{t.Project}";
            // Quotas default to 10 volumes: unlimited first, through the API, as an admin would.
            Send(http[0], HttpMethod.Put, $"{p}/os-quota-sets/{t.Project}",
                new JsonObject { ["quota_set"] = new JsonObject { ["volumes"] = -1, ["snapshots"] = -1, ["gigabytes"] = -1 } });

            // Warm-up (JIT, connection setup): a few creates and deletes on every client.
            var warm = Burst(http, clients * 2, (c, i) => CreateAvailable(c, p, new JsonObject { ["size"] = 1, ["name"] = $"warm-{i}" }).Id);
            Burst(http, warm.Ids.Length, (c, i) => { DeleteGone(c, p, warm.Ids[i]); return ""; });

            var creates = Burst(http, n, (c, i) => CreateAvailable(c, p, new JsonObject { ["size"] = 1, ["name"] = $"b-{i}" }).Id);
            Console.WriteLine($"  [{t.Name}] {n} creates: {creates.Wall.TotalSeconds:F3} s");
            var deletes = Burst(http, n, (c, i) => { DeleteGone(c, p, creates.Ids[i]); return ""; });
            Console.WriteLine($"  [{t.Name}] {n} deletes: {deletes.Wall.TotalSeconds:F3} s");

            var src = CreateAvailable(http[0], p, new JsonObject { ["size"] = 1, ["name"] = "golden" }).Id;
            var snap = SnapshotAvailable(http[0], p, src);
            var fromSnap = Burst(http, n, (c, i) => CreateAvailable(c, p, new JsonObject { ["size"] = 1, ["name"] = $"s-{i}", ["snapshot_id"] = snap }).Id);
            Console.WriteLine($"  [{t.Name}] {n} creates from one snapshot: {fromSnap.Wall.TotalSeconds:F3} s");
            Burst(http, n, (c, i) => { DeleteGone(c, p, fromSnap.Ids[i]); return ""; });
            Send(http[0], HttpMethod.Delete, $"{p}/snapshots/{snap}", null);
            WaitGone(http[0], $"{p}/snapshots/{snap}");
            DeleteGone(http[0], p, src);

            // RSS per `list` volumes held, then the listing with them in the project.
            long before = Rss(t.Pids);
            var held = Burst(http, list, (c, i) => CreateAvailable(c, p, new JsonObject { ["size"] = 1, ["name"] = $"l-{i}" }).Id);
            long after = Rss(t.Pids);
            Console.WriteLine($"  [{t.Name}] {list} volumes created in {held.Wall.TotalSeconds:F1} s; listing");
            var pageMs = new List<double>();
            int pages = 0;
            for (int r = 0; r < rounds; r++)
            {
                string? next = $"{t.Url}{p}/volumes/detail?limit={page}";
                int seen = 0;
                while (next is not null)
                {
                    var sw = Stopwatch.StartNew();
                    var body = Send(http[0], HttpMethod.Get, next, null)!;
                    pageMs.Add(sw.Elapsed.TotalMilliseconds);
                    seen += body["volumes"]!.AsArray().Count;
                    next = body["volumes_links"]?.AsArray().FirstOrDefault(l => (string?)l!["rel"] == "next")?["href"]?.GetValue<string>();
                    pages++;
                }
                if (seen != list) throw new InvalidOperationException($"listing saw {seen} volumes, expected {list}");
            }
            var ms = pageMs.ToArray();
            // Leave the service empty (untimed), so a second run against the same Cinder starts clean.
            Burst(http, list, (c, i) => { DeleteGone(c, p, held.Ids[i]); return ""; });
            return new Figures(n, creates.Wall, creates.Ms, deletes.Wall, deletes.Ms, fromSnap.Wall, fromSnap.Ms,
                list, pages, P(ms, 50), P(ms, 99), ms.Max(), before, after, t.Pids.Length > 0 ? list : 0);
        }
        finally { foreach (var c in http) c.Dispose(); }
    }

    private static void Print(string name, Figures f)
    {
        Console.WriteLine($"{name}: 16 concurrent clients");
        Console.WriteLine($"  {f.Count} creates, each polled until available: {f.Creates.TotalSeconds,8:F3} s  (per volume p50 {P(f.CreateMs, 50):F1} ms, p99 {P(f.CreateMs, 99):F1} ms){Goal(f.Creates)}");
        Console.WriteLine($"  {f.Count} deletes, each polled until gone      : {f.Deletes.TotalSeconds,8:F3} s  (per volume p50 {P(f.DeleteMs, 50):F1} ms, p99 {P(f.DeleteMs, 99):F1} ms){Goal(f.Deletes)}");
        Console.WriteLine($"  {f.Count} creates from one snapshot           : {f.SnapCreates.TotalSeconds,8:F3} s  (per volume p50 {P(f.SnapCreateMs, 50):F1} ms, p99 {P(f.SnapCreateMs, 99):F1} ms){Goal(f.SnapCreates)}");
        Console.WriteLine($"  GET /volumes/detail?limit=1000, {f.Listed} volumes, {f.Pages} pages: p50 {f.PageP50:F1} ms, p99 {f.PageP99:F1} ms, max {f.PageMax:F1} ms{(f.Listed == 10000 ? (f.PageP99 < 20 ? "  (goal < 20 ms: met)" : "  (goal < 20 ms: NOT met)") : "")}");
        if (f.RssVolumes > 0)
            Console.WriteLine($"  RSS {f.RssBefore / 1024.0 / 1024:F1} MiB before, {f.RssAfter / 1024.0 / 1024:F1} MiB with {f.RssVolumes} volumes: {(f.RssAfter - f.RssBefore) / 1024.0 / 1024 * 10000 / f.RssVolumes:F1} MiB per 10,000 volumes");

        string Goal(TimeSpan wall) => f.Count == 1000 ? (wall.TotalSeconds < 2 ? "  (goal < 2 s: met)" : "  (goal < 2 s: NOT met)") : "";
    }

    private static double P(double[] xs, int pct)
    {
        if (xs.Length == 0) return double.NaN;
        var s = xs.OrderBy(x => x).ToArray();
        return s[Math.Clamp((int)Math.Ceiling(pct / 100.0 * s.Length) - 1, 0, s.Length - 1)];
    }

    /// <summary>Sum of VmRSS over the service's processes, in bytes.</summary>
    private static long Rss(int[] pids)
    {
        long total = 0;
        foreach (var pid in pids)
        {
            var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            total += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], Inv) * 1024;
        }
        return total;
    }

    private sealed record BurstResult(TimeSpan Wall, string[] Ids, double[] Ms);

    /// <summary>Items 0..n-1 shared by the clients (one worker per client, each taking the next item), timed.</summary>
    private static BurstResult Burst(HttpClient[] clients, int n, Func<HttpClient, int, string> op)
    {
        var ids = new string[n];
        var ms = new double[n];
        int next = -1;
        var sw = Stopwatch.StartNew();
        Exception? failed = null;
        // One thread per client (each blocks on its own requests, as 16 separate client programs would).
        var workers = clients.Select(c => new Thread(() =>
        {
            try
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < n && failed is null)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    ids[i] = op(c, i);
                    ms[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
            }
#pragma warning disable CA1031 // any failure of a client stops the burst and is rethrown on the caller's thread
            catch (Exception e) { Interlocked.CompareExchange(ref failed, e, null); }
#pragma warning restore CA1031
        })).ToArray();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();
        if (failed is not null) throw new InvalidOperationException("a client failed", failed);
        return new BurstResult(sw.Elapsed, ids, ms);
    }

    private static HttpClient Client(Target t)
    {
#pragma warning disable CA2000 // the client owns its handler (disposeHandler defaults to true)
        var c = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1, UseProxy = false }) { BaseAddress = new Uri(t.Url), Timeout = TimeSpan.FromMinutes(5) };
#pragma warning restore CA2000
        c.DefaultRequestHeaders.Add("X-Auth-Token", t.Token);
        c.DefaultRequestHeaders.Add("OpenStack-API-Version", "volume 3.60");
        c.DefaultRequestHeaders.Add("Accept", "application/json");
        return c;
    }

    private static (string Id, JsonNode Body) CreateAvailable(HttpClient c, string p, JsonObject volume)
    {
        var v = Send(c, HttpMethod.Post, $"{p}/volumes", new JsonObject { ["volume"] = volume })!["volume"]!;
        var id = v["id"]!.GetValue<string>();
        return (id, WaitStatus(c, $"{p}/volumes/{id}", "volume", "available"));
    }

    private static string SnapshotAvailable(HttpClient c, string p, string volume)
    {
        var s = Send(c, HttpMethod.Post, $"{p}/snapshots", new JsonObject { ["snapshot"] = new JsonObject { ["volume_id"] = volume, ["name"] = "snap" } })!["snapshot"]!;
        var id = s["id"]!.GetValue<string>();
        WaitStatus(c, $"{p}/snapshots/{id}", "snapshot", "available");
        return id;
    }

    private static void DeleteGone(HttpClient c, string p, string id)
    {
        Send(c, HttpMethod.Delete, $"{p}/volumes/{id}", null);
        WaitGone(c, $"{p}/volumes/{id}");
    }

    /// <summary>Polls as a client does (first at once, then every 5 ms), until the status; an error status throws.</summary>
    private static JsonNode WaitStatus(HttpClient c, string path, string kind, string status)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var o = Send(c, HttpMethod.Get, path, null)![kind]!;
            var s = o["status"]!.GetValue<string>();
            if (s == status) return o;
            if (s.StartsWith("error", StringComparison.Ordinal)) throw new InvalidOperationException($"{path}: status {s}");
            if (sw.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"{path}: still {s}");
            Thread.Sleep(5);
        }
    }

    private static void WaitGone(HttpClient c, string path)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            using var r = c.GetAsync(path).Result;
            if (r.StatusCode == HttpStatusCode.NotFound) return;
            var text = r.Content.ReadAsStringAsync().Result;
            if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"GET {path}: {(int)r.StatusCode} {text}");
            var s = JsonNode.Parse(text)!.AsObject().First().Value!["status"]!.GetValue<string>();
            if (s.StartsWith("error", StringComparison.Ordinal)) throw new InvalidOperationException($"{path}: status {s}");
            if (sw.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"{path}: still {s}");
            Thread.Sleep(5);
        }
    }

    private static JsonNode? Send(HttpClient c, HttpMethod method, string path, JsonNode? body)
    {
        using var req = new HttpRequestMessage(method, path);
        if (body is not null) req.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var r = c.SendAsync(req).Result;
        var text = r.Content.ReadAsStringAsync().Result;
        if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"{method} {path}: {(int)r.StatusCode} {text}");
        return text.Length == 0 ? null : JsonNode.Parse(text);
    }
}

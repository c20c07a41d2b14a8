using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Cairn.TestSupport;

namespace Cairn.Bench;

/// <summary>
/// The LUN clone API on a real <c>cairn serve</c> (embedded engine, durable, iSCSI listener up so every target is
/// live when its job completes): a 1,000-item create job and the matching delete with deleteClones on an empty host,
/// the same with 10,000 clones and targets already there (per-item cost ratio), and clone_status latency at
/// 200 requests/s while jobs run.
/// </summary>
internal static class LunBench
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(string[] args)
    {
        int n = int.Parse(BenchArgs.Get(args, "count", "1000"), Inv);
        int filler = int.Parse(BenchArgs.Get(args, "existing", "10000"), Inv);
        int rounds = int.Parse(BenchArgs.Get(args, "rounds", "5"), Inv);
        var dir = BenchArgs.Scratch(args, "lun");
        try
        {
            using var server = new ServerProcess(dir);
            using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromMinutes(5) };
            Send(http, HttpMethod.Post, "/cairn/v1/volumes", """{"name":"b/images/golden","size":10737418240,"parents":true}""");
            Send(http, HttpMethod.Post, "/cairn/v1/snapshots", """{"name":"b/images/golden@1"}""");

            using var poller = new StatusPoller(server.Url);
            // Warm-up (JIT tiers, SQLite caches): one full-size create and delete, not measured (status reads during it
            // are kept apart and reported separately).
            RunJob(http, poller, HttpMethod.Post, CreateBody("warm", 0, n), Phase.WarmUp);
            RunJob(http, poller, HttpMethod.Delete, DeleteBody("warm", 0, n), Phase.WarmUp);

            // Several rounds each (--rounds, 5), medians reported: a 1,000-item job takes about 0.1 s, and on a shared VM
            // single runs swing by 1.5x.
            var emptyC = new List<JobFigures>();
            var emptyD = new List<JobFigures>();
            string live = "";
            for (int r = 0; r < rounds; r++)
            {
                emptyC.Add(RunJob(http, poller, HttpMethod.Post, CreateBody("a" + r, 0, n)));
                if (r == 0) live = CheckLive(server, "a0", n);
                emptyD.Add(RunJob(http, poller, HttpMethod.Delete, DeleteBody("a" + r, 0, n)));
            }

            // 10,000 clones and targets that stay (one job of the maximum batch size), then the same rounds again.
            var fill = RunJob(http, poller, HttpMethod.Post, CreateBody("fill", 0, filler), Phase.Fill);
            var fullC = new List<JobFigures>();
            var fullD = new List<JobFigures>();
            for (int r = 0; r < rounds; r++)
            {
                fullC.Add(RunJob(http, poller, HttpMethod.Post, CreateBody("b" + r, 0, n)));
                fullD.Add(RunJob(http, poller, HttpMethod.Delete, DeleteBody("b" + r, 0, n)));
            }
            var emptyCreate = Median(emptyC);
            var emptyDelete = Median(emptyD);
            var fullCreate = Median(fullC);
            var fullDelete = Median(fullD);
            Console.WriteLine("  rounds (job_time s): empty create " + string.Join(" ", emptyC.Select(f => f.Job.ToString("F3", Inv)))
                + "; empty delete " + string.Join(" ", emptyD.Select(f => f.Job.ToString("F3", Inv)))
                + "; full create " + string.Join(" ", fullC.Select(f => f.Job.ToString("F3", Inv)))
                + "; full delete " + string.Join(" ", fullD.Select(f => f.Job.ToString("F3", Inv))));
            var lat = poller.Stop();

            Console.WriteLine($"LUN clone API, real cairn serve (embedded engine, durable), {n}-item jobs, medians of {rounds}:");
            Console.WriteLine($"  empty host      create: job_time {emptyCreate.Job:F3} s (clone {emptyCreate.CloneSecs:F3} s, target {emptyCreate.Target:F3} s, lag {emptyCreate.Lag:F3} s), wall {emptyCreate.Wall:F3} s; targets live: {live}");
            Console.WriteLine($"  empty host      delete: job_time {emptyDelete.Job:F3} s (target {emptyDelete.Target:F3} s, clone {emptyDelete.CloneSecs:F3} s), wall {emptyDelete.Wall:F3} s");
            Console.WriteLine($"  {filler} existing (filled by one {filler}-item job in {fill.Job:F3} s):");
            Console.WriteLine($"                  create: job_time {fullCreate.Job:F3} s (clone {fullCreate.CloneSecs:F3} s, target {fullCreate.Target:F3} s), wall {fullCreate.Wall:F3} s");
            Console.WriteLine($"                  delete: job_time {fullDelete.Job:F3} s (target {fullDelete.Target:F3} s, clone {fullDelete.CloneSecs:F3} s), wall {fullDelete.Wall:F3} s");
            Console.WriteLine($"  per-item create cost: empty {emptyCreate.Job / n * 1000:F3} ms, with {filler} existing {fullCreate.Job / n * 1000:F3} ms, ratio {fullCreate.Job / emptyCreate.Job:F2}x");
            Console.WriteLine($"  per-item delete cost: empty {emptyDelete.Job / n * 1000:F3} ms, with {filler} existing {fullDelete.Job / n * 1000:F3} ms, ratio {fullDelete.Job / emptyDelete.Job:F2}x");
            Console.WriteLine($"  clone_status at 200 req/s while jobs ran: {lat[Phase.Rounds] + lat[Phase.Fill]}");
            Console.WriteLine($"    during the {n}-item jobs: {lat[Phase.Rounds]}");
            Console.WriteLine($"    during the {filler}-item fill job: {lat[Phase.Fill]}");
            Console.WriteLine($"    during the warm-up (not counted above): {lat[Phase.WarmUp]}; all reads together: {lat[Phase.WarmUp] + lat[Phase.Rounds] + lat[Phase.Fill]}");
            return 0;
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    private static JobFigures Median(List<JobFigures> l) => l.OrderBy(f => f.Job).ElementAt(l.Count / 2);

    private sealed record JobFigures(double Job, double CloneSecs, double Target, double Lag, double Wall);

    private enum Phase { WarmUp, Rounds, Fill }

    /// <summary>Status read latencies (ms) of one phase of the run.</summary>
    private sealed class Latencies(IEnumerable<double> ms)
    {
        private readonly double[] _ms = [.. ms.Order()];

        public static Latencies operator +(Latencies a, Latencies b) => new(a._ms.Concat(b._ms));

        public override string ToString() => _ms.Length == 0 ? "no reads"
            : $"{_ms.Length} reads, p50 {P(0.5):F2} ms, p99 {P(0.99):F2} ms, max {_ms[^1]:F2} ms";

        private double P(double q) => _ms[Math.Min(_ms.Length - 1, (int)(_ms.Length * q))];
    }

    private static JobFigures RunJob(HttpClient http, StatusPoller poller, HttpMethod method, string body, Phase phase = Phase.Rounds)
    {
        var sw = Stopwatch.StartNew();
        var id = (string)Send(http, method, "/lun/api/v1.0/clone", body)["job_id"]!;
        // The poller's own reads (every 5 ms) tell when the job is done: no second reader adds to the 200 reads/s.
        poller.Watch(id, phase);
        var end = poller.WaitFinished(id);
        var wall = sw.Elapsed.TotalSeconds;
        poller.Watch(null);
        var s = Send(http, HttpMethod.Get, "/lun/api/v1.0/clone_status/" + id);
        if ((string)s["status"]! != "complete") throw new InvalidOperationException($"job {end}: " + s["error"]);
        return new JobFigures((double)s["job_time"]!, (double)s["clone_time"]!, (double)s["target_time"]!, (double)s["lag_time"]!, wall);
    }

    /// <summary>Asks the iSCSI listener (libiscsi's iscsi-ls, when installed) whether the first and last targets are there.</summary>
    private static string CheckLive(ServerProcess server, string prefix, int n)
    {
        if (!File.Exists("/usr/bin/iscsi-ls")) return "not checked (no iscsi-ls)";
        foreach (var i in new[] { 0, n - 1 })
        {
            var output = Commands.Run("/usr/bin/iscsi-ls", "-i", Init(prefix, i), $"iscsi://127.0.0.1:{server.IscsiPort}").Output();
            if (!output.Contains(Wwn(prefix, i), StringComparison.Ordinal)) return $"NO ({Wwn(prefix, i)} not listed: {output.Trim()})";
        }
        return "yes (iscsi-ls sees the first and last)";
    }

    private static string Wwn(string p, int i) => $"iqn.2026-11.org.example.bench:{p}.n{i:D5}";
    private static string Init(string p, int i) => $"iqn.2026-11.org.example.bench:init.{p}.n{i:D5}";

    private static string CreateBody(string p, int from, int count)
    {
        var sb = new StringBuilder("{\"clones\":[");
        for (int i = from; i < from + count; i++)
            sb.Append(i == from ? "" : ",").Append(Inv, $"{{\"src\":\"b/images/golden@1\",\"dst\":\"b/{p}/n{i:D5}\",\"wwn\":\"{Wwn(p, i)}\",\"initiators\":[\"{Init(p, i)}\"],\"createParent\":1}}");
        return sb.Append("]}").ToString();
    }

    private static string DeleteBody(string p, int from, int count)
    {
        var sb = new StringBuilder("{\"clones\":[");
        for (int i = from; i < from + count; i++)
            sb.Append(i == from ? "" : ",").Append(Inv, $"{{\"dst\":\"b/{p}/n{i:D5}\",\"wwn\":\"{Wwn(p, i)}\",\"deleteClones\":1}}");
        return sb.Append("]}").ToString();
    }

    private static JsonNode Send(HttpClient http, HttpMethod method, string path, string body = "")
    {
        using var req = new HttpRequestMessage(method, path);
        if (body.Length > 0) req.Content = new StringContent(body, Encoding.UTF8, "application/json");
        using var r = http.Send(req);
        var text = r.Content.ReadAsStringAsync().Result;
        if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"{method} {path}: {(int)r.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>
    /// GETs clone_status of the watched job every 5 ms (200/s, paced by start time, not by answers), on its own
    /// connections, recording latencies only while a job is being watched (warm-up jobs apart), and noticing when the
    /// job reaches a final status.
    /// </summary>
    private sealed class StatusPoller : IDisposable
    {
        private static readonly byte[] Complete = Encoding.UTF8.GetBytes("\"status\":\"complete\"");
        private static readonly byte[] Failed = Encoding.UTF8.GetBytes("\"status\":\"failed\"");
        private readonly HttpClient _http;
        private readonly ConcurrentDictionary<Phase, ConcurrentBag<double>> _ms = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private readonly ConcurrentDictionary<string, string> _finished = new();
        private volatile string? _job;
        private volatile int _phase;

        [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The HttpClient owns the handler and disposes it.")]
        public StatusPoller(string url)
        {
            // At most 32 reads in flight (connections): a slow server shows as high latency, not as a connection flood.
            _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 32 }) { BaseAddress = new Uri(url) };
            _loop = Task.Run(LoopAsync);
        }

        public void Watch(string? jobId, Phase phase = Phase.Rounds)
        {
            _phase = (int)phase;
            _job = jobId;
        }

        /// <summary>Blocks until a read of <paramref name="jobId"/> answered a final status; returns it.</summary>
        public string WaitFinished(string jobId)
        {
            var sw = Stopwatch.StartNew();
            while (true)
            {
                if (_finished.TryGetValue(jobId, out var st)) return st;
                if (sw.Elapsed > TimeSpan.FromMinutes(10)) throw new TimeoutException("job " + jobId + " did not finish");
                Thread.Sleep(1);
            }
        }

        private Task LoopAsync()
        {
            // Paced on a thread of its own with plain sleeps: Task.Delay wakes a millisecond or two late (timer thread,
            // then a pool thread), and that lateness would count as server latency.
            var inflight = new List<Task>();
            var pacer = new Thread(() =>
            {
                var start = Stopwatch.GetTimestamp();
                long tick = 0;
                while (!_stop.IsCancellationRequested)
                {
                    var due = start + Stopwatch.Frequency * 5 * ++tick / 1000;
                    // Whole milliseconds, never a busy wait (that would take CPU from the server on a small machine).
                    while (Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due) is var left && left > TimeSpan.Zero)
                        Thread.Sleep(Math.Max(1, (int)left.TotalMilliseconds));
                    if (_job is not { } id) continue;
                    inflight.RemoveAll(t => t.IsCompleted);
                    inflight.Add(OneAsync(id, (Phase)_phase, due));
                }
            }) { IsBackground = true, Name = "status poller" };
            pacer.Start();
            return Task.Run(() =>
            {
                pacer.Join();
                Task.WaitAll(inflight);
            });
        }

        private async Task OneAsync(string id, Phase phase, long due)
        {
            // Latency counts from when the read was due: a late timer and a wait for a free connection count too.
            var t0 = due;
            using var r = await _http.GetAsync("/lun/api/v1.0/clone_status/" + id);
            var body = await r.Content.ReadAsByteArrayAsync();
            var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (!r.IsSuccessStatusCode) return;
            if (_job == id) _ms.GetOrAdd(phase, _ => []).Add(ms);
            if (body.AsSpan().IndexOf(Complete) >= 0) _finished.TryAdd(id, "complete");
            else if (body.AsSpan().IndexOf(Failed) >= 0) _finished.TryAdd(id, "failed");
        }

        public Dictionary<Phase, Latencies> Stop()
        {
            _stop.Cancel();
            _loop.Wait();
            return Enum.GetValues<Phase>().ToDictionary(p => p, p => new Latencies(_ms.TryGetValue(p, out var b) ? b : []));
        }

        public void Dispose()
        {
            _http.Dispose();
            _stop.Dispose();
        }
    }
}

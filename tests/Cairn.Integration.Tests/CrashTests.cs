using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Cairn.Core.Storage;
using Cairn.Integration.Tests.Support;

namespace Cairn.Integration.Tests;

/// <summary>
/// SIGKILL of a real server in the middle of writes, snapshots, clones and batch jobs. After each restart every
/// acknowledged import reads back, every acknowledged snapshot and clone exists, and no job stays running.
/// </summary>
public sealed class CrashTests
{
    private const long VolSize = 16L << 20;
    private const int Slot = 64 * 1024;

    [Fact]
    public async Task Sigkill_during_writes_snapshots_clones_and_jobs_loses_nothing_acknowledged()
    {
        var data = TempDir.Create("cairn-crash");
        var acknowledgedWrites = new ConcurrentDictionary<(string Vol, int Slot), int>();
        var acknowledgedSnaps = new ConcurrentBag<string>();
        var acknowledgedClones = new ConcurrentBag<string>();
        var jobs = new ConcurrentBag<string>();
        int nextSlot = 0, seq = 0;
        var rnd = new Random(7);
        string[] vols = ["crash/a", "crash/b"];

        await using (var first = await CairnProcess.StartAsync(data))
        {
            using var http = new HttpClient { BaseAddress = new Uri(first.Url) };
            foreach (var v in vols) await Post(http, "/cairn/v1/volumes", new JsonObject { ["name"] = v, ["size"] = VolSize, ["parents"] = true });
            await Post(http, "/cairn/v1/snapshots", new JsonObject { ["name"] = "crash/a@base" });
            await first.StopAsync();
        }

        for (int round = 0; round < 3; round++)
        {
            await using var server = await CairnProcess.StartAsync(data);
            using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(30) };
            using var stop = new CancellationTokenSource();
            var (writesBefore, snapsBefore, clonesBefore, jobsBefore) = (acknowledgedWrites.Count, acknowledgedSnaps.Count, acknowledgedClones.Count, jobs.Count);
            var workers = new List<Task>();
            for (int w = 0; w < 3; w++)
            {
                workers.Add(Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        var slot = Interlocked.Increment(ref nextSlot) - 1;
                        var vol = vols[slot % vols.Length];
                        var s = slot / vols.Length;
                        if ((long)(s + 1) * Slot > VolSize) return;
                        var seed = Interlocked.Increment(ref seq);
                        if (await WriteSlot(http, vol, s, seed)) acknowledgedWrites[(vol, s)] = seed;
                    }
                }));
            }
            workers.Add(Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var n = $"crash/a@s{Interlocked.Increment(ref seq)}";
                    if (await TryPost(http, "/cairn/v1/snapshots", new JsonObject { ["name"] = n }) == HttpStatusCode.Created) acknowledgedSnaps.Add(n);
                    var c = $"crash/clone{Interlocked.Increment(ref seq)}";
                    if (await TryPost(http, "/cairn/v1/clones", new JsonObject { ["source"] = "crash/a@base", ["target"] = c }) == HttpStatusCode.Created) acknowledgedClones.Add(c);
                }
            }));
            workers.Add(Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var ops = new JsonArray();
                    var b = Interlocked.Increment(ref seq);
                    for (int i = 0; i < 200; i++) ops.Add(new JsonObject { ["op"] = "clone", ["source"] = "crash/a@base", ["target"] = $"crash/batch{b}/c{i}", ["parents"] = true });
                    try
                    {
                        var r = await http.PostAsync("/cairn/v1/batch", Content(new JsonObject { ["ops"] = ops }));
                        if (r.StatusCode == HttpStatusCode.Accepted) jobs.Add(JsonNode.Parse(await r.Content.ReadAsStringAsync())!["id"]!.GetValue<string>());
                    }
                    catch (HttpRequestException) { }
                    catch (TaskCanceledException) { }
                    await Task.Delay(100);
                }
            }));
            // Kill at a seeded, varying point counted in acknowledged events (writes, a snapshot, a clone, an accepted
            // batch job), never after a fixed time, which under load could come before anything was acknowledged.
            int writesWanted = writesBefore + 20 + rnd.Next(60);
            await WaitForAsync(() => (acknowledgedWrites.Count >= writesWanted || Volatile.Read(ref nextSlot) >= vols.Length * (VolSize / Slot))
                && acknowledgedSnaps.Count > snapsBefore
                && acknowledgedClones.Count > clonesBefore && jobs.Count > jobsBefore, server);
            server.Kill();
            stop.Cancel();
            await Task.WhenAll(workers);

            await using var restarted = await CairnProcess.StartAsync(data);
            using var check = new HttpClient { BaseAddress = new Uri(restarted.Url) };
            foreach (var ((v, s), seed) in acknowledgedWrites)
            {
                var image = await check.GetByteArrayAsync($"/cairn/v1/volume-data/{SlotVolume(v, s)}");
                Assert.True(image.AsSpan(0, Slot).SequenceEqual(Pattern(seed)), $"round {round}: acknowledged import {SlotVolume(v, s)} lost");
            }
            var names = JsonNode.Parse(await check.GetStringAsync("/cairn/v1/volumes"))!.AsArray().Select(v => v!["name"]!.GetValue<string>()).ToHashSet();
            foreach (var c in acknowledgedClones) Assert.Contains(c, names);
            var snaps = JsonNode.Parse(await check.GetStringAsync("/cairn/v1/snapshots?volume=crash/a"))!.AsArray().Select(s => s!["name"]!.GetValue<string>()).ToHashSet();
            foreach (var s in acknowledgedSnaps) Assert.Contains(s, snaps);

            // No job stays running: each is resumed and finishes, or fails with a reason.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                var list = JsonNode.Parse(await check.GetStringAsync("/cairn/v1/jobs?limit=10000"))!.AsArray();
                var unfinished = list.Where(j => j!["state"]!.GetValue<string>() is "running" or "pending").ToList();
                if (unfinished.Count == 0)
                {
                    foreach (var j in list.Where(j => j!["state"]!.GetValue<string>() == "failed"))
                        Assert.False(string.IsNullOrEmpty(j!["error"]?.GetValue<string>()), "a failed job says why");
                    break;
                }
                Assert.True(DateTime.UtcNow < deadline, $"jobs still unfinished after restart: {string.Join(", ", unfinished.Select(j => j!["id"]))}");
                await Task.Delay(200);
            }
            foreach (var id in jobs)
            {
                var job = JsonNode.Parse(await check.GetStringAsync($"/cairn/v1/jobs/{id}"))!;
                if (job["state"]!.GetValue<string>() == "succeeded")
                    Assert.All(job["items"]!.AsArray(), i => Assert.Contains(i!["key"]!.GetValue<string>(), JsonNode.Parse(check.GetStringAsync("/cairn/v1/volumes?root=" + i["key"]!.GetValue<string>()).Result)!.AsArray().Select(v => v!["name"]!.GetValue<string>())));
            }
            await restarted.StopAsync();
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, CairnProcess server)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the workers did not get enough operations acknowledged:\n" + server.Log);
            Assert.False(server.HasExited, "cairn exited:\n" + server.Log);
            await Task.Delay(20);
        }
    }

    private static byte[] Pattern(int seed)
    {
        var b = new byte[Slot];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Each write is an import that creates a volume of its own: an import replaces a volume's data (it is not a
    /// partial write), so acknowledged imports are checked one volume each.</summary>
    private static string SlotVolume(string vol, int slot) => $"{vol}-w{slot}";

    private static async Task<bool> WriteSlot(HttpClient http, string vol, int slot, int seed)
    {
        var body = new byte[SparseStream.HeaderSize + SparseStream.RecordHeaderSize * 2 + Slot];
        SparseStream.WriteHeader(body, Slot);
        SparseStream.WriteRecordHeader(body.AsSpan(SparseStream.HeaderSize), 0, Slot);
        Pattern(seed).CopyTo(body.AsSpan(SparseStream.HeaderSize + SparseStream.RecordHeaderSize));
        SparseStream.WriteRecordHeader(body.AsSpan(SparseStream.HeaderSize + SparseStream.RecordHeaderSize + Slot), SparseStream.EndMarker, 0);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new(SparseStream.MediaType);
        try
        {
            var r = await http.PutAsync($"/cairn/v1/volume-data/{SlotVolume(vol, slot)}", content);
            return r.IsSuccessStatusCode;
        }
        catch (HttpRequestException) { return false; }
        catch (TaskCanceledException) { return false; }
    }

    private static StringContent Content(JsonNode body) => new(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");

    private static async Task Post(HttpClient http, string path, JsonNode body)
    {
        using var content = Content(body);
        var r = await http.PostAsync(path, content);
        Assert.True(r.IsSuccessStatusCode, $"{path}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
    }

    private static async Task<HttpStatusCode?> TryPost(HttpClient http, string path, JsonNode body)
    {
        using var content = Content(body);
        try { return (await http.PostAsync(path, content)).StatusCode; }
        catch (HttpRequestException) { return null; }
        catch (TaskCanceledException) { return null; }
    }
}

using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Cairn.Integration.Tests.Support;

namespace Cairn.Integration.Tests.Lun;

/// <summary>kill -9 of a real server in the middle of a 1,000-item create job, then a restart on the same data.</summary>
public sealed class LunCrashTests
{
    private const int Items = 1000;

    [Fact]
    public async Task Sigkill_mid_way_through_a_1000_item_job_then_restart_finishes_every_item_once()
    {
        var data = TempDir.Create("cairn-lun-crash");
        string jobId;
        string seenAtKill;
        var server = await CairnProcess.StartAsync(data);
        using (var http = new HttpClient { BaseAddress = new Uri(server.Url) })
        {
            await Send(http, HttpMethod.Post, "/cairn/v1/volumes", """{"name":"pool/images/golden","size":1048576,"parents":true}""");
            await Send(http, HttpMethod.Post, "/cairn/v1/snapshots", """{"name":"pool/images/golden@1"}""");
            var body = new StringBuilder("{\"clones\":[");
            for (int i = 0; i < Items; i++)
                body.Append(i == 0 ? "" : ",").Append(
                    $"{{\"src\":\"pool/images/golden@1\",\"dst\":\"pool/nodes/n{i:D4}\",\"wwn\":\"iqn.2026-11.org.example:n{i:D4}\",\"initiators\":[\"iqn.2026-11.org.example:init{i:D4}\"],\"createParent\":true}}");
            body.Append("]}");
            var created = await Send(http, HttpMethod.Post, "/lun/api/v1.0/clone", body.ToString());
            jobId = (string)created["job_id"]!;
            // Kill as soon as the job is seen working (or at once if it is already past that).
            var sw = Stopwatch.StartNew();
            do
            {
                seenAtKill = (string)(await Send(http, HttpMethod.Get, "/lun/api/v1.0/clone_status/" + jobId))["status"]!;
            }
            while (seenAtKill is "pending" or "start_job" && sw.Elapsed < TimeSpan.FromSeconds(30));
        }
        server.Kill();
        await server.DisposeAsync();

        await using var again = await CairnProcess.StartAsync(data);
        using var http2 = new HttpClient { BaseAddress = new Uri(again.Url) };
        JsonNode status;
        var wait = Stopwatch.StartNew();
        while (true)
        {
            status = await Send(http2, HttpMethod.Get, "/lun/api/v1.0/clone_status/" + jobId);
            if ((string)status["status"]! is "complete" or "failed") break;
            Assert.True(wait.Elapsed < TimeSpan.FromSeconds(120), "job did not finish after the restart: " + status.ToJsonString()[..200]);
            await Task.Delay(100);
        }
        Console.WriteLine($"killed while the job was '{seenAtKill}'");
        Assert.Equal("complete", (string)status["status"]!);
        Assert.Equal(Items, (int)status["num_completed"]!);
        Assert.Equal(Items, (int)status["num_clones"]!);
        Assert.Equal(Items, (int)status["num_targets"]!);
        Assert.Equal(0, (int)status["num_failed"]!);
        var full = await Send(http2, HttpMethod.Get, "/lun/api/v1.0/clone_status/" + jobId + "?items=1");
        Assert.Equal(Items, full["items"]!.AsArray().Count);
        Assert.All(full["items"]!.AsArray(), i => Assert.Equal("done", (string)i!["status"]!));

        // Every item made once: exactly 1,000 clones of the image under pool/nodes and 1,000 targets, each on its clone.
        var vols = (await Send(http2, HttpMethod.Get, "/cairn/v1/volumes?root=pool/nodes")).AsArray()
            .Where(v => (string?)v!["type"] == "volume").ToList();
        Assert.Equal(Items, vols.Count);
        Assert.All(vols, v => Assert.Equal("pool/images/golden@1", (string)v!["origin"]!));
        var targets = (await Send(http2, HttpMethod.Get, "/cairn/v1/targets")).AsArray();
        Assert.Equal(Items, targets.Count);
        var job = await Send(http2, HttpMethod.Get, "/cairn/v1/jobs/" + jobId);
        Console.WriteLine($"job attempts: {job["attempts"]}");
    }

    private static async Task<JsonNode> Send(HttpClient http, HttpMethod method, string path, string? body = null)
    {
        using var req = new HttpRequestMessage(method, path);
        if (body is not null) req.Content = new StringContent(body, Encoding.UTF8, "application/json");
        using var r = await http.SendAsync(req);
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode is HttpStatusCode.OK or HttpStatusCode.Created, $"{method} {path}: {(int)r.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }
}

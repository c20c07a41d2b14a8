using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests.Lun;

/// <summary>Targets made by the LUN clone API, seen by a real initiator (libiscsi): only by their own initiators.</summary>
public sealed class LunIscsiTests
{
    private const int Size = 1 << 20;
    private static string Wwn(int i) => $"iqn.2014-11.nmc-probe.org:testbed.yat.node{i}";
    private static string Init(int i) => $"iqn.2014-11.nmc-probe.org:init{i}";

    [Fact]
    public async Task Each_clone_target_is_visible_and_readable_by_its_own_initiator_only_and_gone_after_delete()
    {
        await using var s = await CairnProcess.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(s.Url) };
        var image = new byte[Size];
        new Random(42).NextBytes(image.AsSpan(0, Size / 2)); // second half left as a hole
        using (var put = new ByteArrayContent(image))
        {
            put.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            var r = await http.PutAsync("/cairn/v1/volume-data/pool/images/golden?parents=true", put);
            Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
        }
        await Send(http, HttpMethod.Post, "/cairn/v1/snapshots", """{"name":"pool/images/golden@1"}""");
        // Written after the snapshot: the clones must show the snapshot's bytes, not these.
        using (var put = new ByteArrayContent(new byte[Size]))
            await http.PutAsync("/cairn/v1/volume-data/pool/images/golden?force=true", put);

        var create = "{\"clones\":[" + string.Join(",", Enumerable.Range(0, 2).Select(i =>
            $"{{\"src\":\"pool/images/golden@1\",\"dst\":\"pool/nodes/node{i}\",\"wwn\":\"{Wwn(i)}\",\"initiators\":[\"{Init(i)}\"],\"createParent\":true}}")) + "]}";
        Assert.Equal("complete", await RunJob(http, HttpMethod.Post, create));

        for (int i = 0; i < 2; i++)
        {
            Assert.Equal([Wwn(i)], await IscsiTools.DiscoverAsync(s.IscsiPort, Init(i)));
            var inq = await IscsiTools.RunAsync("iscsi-inq", "-i", Init(i), $"iscsi://127.0.0.1:{s.IscsiPort}/{Wwn(i)}/0");
            Assert.True(inq.ExitCode == 0, inq.Output());
            var cap = await IscsiTools.RunAsync("iscsi-readcapacity16", "-i", Init(i), $"iscsi://127.0.0.1:{s.IscsiPort}/{Wwn(i)}/0");
            Assert.True(cap.ExitCode == 0, cap.Output());
            Assert.Equal(image, LibiscsiSession.Read(s.IscsiPort, Init(i), Wwn(i), Size));

            // The other node's initiator: not listed, no inquiry, no login for a read.
            var other = Init(1 - i);
            Assert.DoesNotContain(Wwn(i), await IscsiTools.DiscoverAsync(s.IscsiPort, other));
            var refused = await IscsiTools.RunAsync("iscsi-inq", "-i", other, $"iscsi://127.0.0.1:{s.IscsiPort}/{Wwn(i)}/0");
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Throws<InvalidOperationException>(() => LibiscsiSession.Read(s.IscsiPort, other, Wwn(i), 4096));
        }
        Assert.Empty(await IscsiTools.DiscoverAsync(s.IscsiPort, "iqn.2014-11.nmc-probe.org:stranger"));

        var delete = "{\"clones\":[" + string.Join(",", Enumerable.Range(0, 2).Select(i =>
            $"{{\"dst\":\"pool/nodes/node{i}\",\"wwn\":\"{Wwn(i)}\",\"deleteClones\":1}}")) + "]}";
        Assert.Equal("complete", await RunJob(http, HttpMethod.Delete, delete));
        for (int i = 0; i < 2; i++)
        {
            Assert.Empty(await IscsiTools.DiscoverAsync(s.IscsiPort, Init(i)));
            var gone = await IscsiTools.RunAsync("iscsi-inq", "-i", Init(i), $"iscsi://127.0.0.1:{s.IscsiPort}/{Wwn(i)}/0");
            Assert.NotEqual(0, gone.ExitCode);
            var vol = await http.GetAsync($"/cairn/v1/volumes/pool/nodes/node{i}");
            Assert.Equal(HttpStatusCode.NotFound, vol.StatusCode);
        }
    }

    private static async Task<string> RunJob(HttpClient http, HttpMethod method, string body)
    {
        var id = (string)(await Send(http, method, "/lun/api/v1.0/clone", body))["job_id"]!;
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var st = await Send(http, HttpMethod.Get, "/lun/api/v1.0/clone_status/" + id);
            var done = (string)st["status"]!;
            if (done == "complete") return done;
            if (done == "failed") return "failed: " + st["error"];
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), st.ToJsonString());
            await Task.Delay(50);
        }
    }

    private static async Task<JsonNode> Send(HttpClient http, HttpMethod method, string path, string body = "")
    {
        using var req = new HttpRequestMessage(method, path);
        if (body.Length > 0) req.Content = new StringContent(body, Encoding.UTF8, "application/json");
        using var r = await http.SendAsync(req);
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(r.IsSuccessStatusCode, $"{method} {path}: {(int)r.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }
}

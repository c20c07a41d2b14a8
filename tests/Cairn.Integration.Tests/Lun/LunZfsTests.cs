using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Cairn.Core.Processes;
using Cairn.Engine.Tests.Zfs;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests.Lun;

/// <summary>
/// The LUN clone API end to end on a real zpool (zfs-fuse), once with Cairn's own iSCSI target and once with tgtd:
/// clones carry the asked properties in ZFS, each clone's target reads the golden data through libiscsi for its own
/// initiator only, and the delete job destroys the clones but keeps the golden image and its snapshot.
/// </summary>
public sealed class LunZfsTests(LunZfsFixture fx) : IClassFixture<LunZfsFixture>
{
    private const int Size = 16 << 20;
    private const int Clones = 3;

    [Theory]
    [InlineData("cairn")]
    [InlineData("tgt")]
    public async Task Clones_of_a_zfs_golden_image_are_exported_with_their_properties_and_deleted_again(string exporter)
    {
        var pool = LunZfsFixture.Pool;
        var root = $"{pool}/projects/testbed-{exporter}";
        var golden = $"{root}/images/centos72-probe";
        string Wwn(int i) => $"iqn.2014-11.nmc-probe.org:testbed.{exporter}.node{i}";
        static string Init(int i) => $"iqn.2014-11.nmc-probe.org:init{i}";
        string Dst(int i) => $"{root}/nodes/node{i}";

        string[] args = exporter == "tgt" ? ["--exporter", "tgt", "--tgt-control-port", fx.Tgtd.ControlPort.ToString(System.Globalization.CultureInfo.InvariantCulture)] : [];
        await using var s = await CairnProcess.StartAsync(extraArgs: args, env: new Dictionary<string, string> { ["CAIRN_POOLS"] = pool + ":zfs" });
        int portal = exporter == "tgt" ? fx.Tgtd.IscsiPort : s.IscsiPort;
        int lun = exporter == "tgt" ? 1 : 0; // tgt keeps LUN 0 for its controller: Cairn LUN 0 is tgt LUN 1
        using var http = new HttpClient { BaseAddress = new Uri(s.Url) };

        var image = new byte[Size];
        new Random(7).NextBytes(image.AsSpan(0, Size / 2)); // second half left zero
        using (var put = new ByteArrayContent(image))
        {
            put.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            var r = await http.PutAsync($"/cairn/v1/volume-data/{golden}?parents=true", put);
            Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync() + s.Log);
        }
        await Send(http, HttpMethod.Post, "/cairn/v1/snapshots", $$"""{"name":"{{golden}}@1"}""");

        var create = "{\"clones\":[" + string.Join(",", Enumerable.Range(0, Clones).Select(i =>
            $"{{\"src\":\"{golden}@1\",\"dst\":\"{Dst(i)}\",\"wwn\":\"{Wwn(i)}\",\"initiators\":[\"{Init(i)}\"],\"createParent\":true,\"properties\":{{\"owner\":\"node{i}\"}}}}")) + "]}";
        Assert.Equal("complete", await RunJob(http, HttpMethod.Post, create, s));

        for (int i = 0; i < Clones; i++)
        {
            // The engine stores caller properties as ZFS user properties under its own prefix.
            Assert.Equal($"node{i}", (await Zfs("get", "-H", "-o", "value", "cairn.prop:owner", Dst(i))).StdOut.Trim());
            Assert.Equal($"{golden}@1", (await Zfs("get", "-H", "-o", "value", "origin", Dst(i))).StdOut.Trim());
            Assert.Contains(Wwn(i), await IscsiTools.DiscoverAsync(portal, Init(i)));
            using (var session = LibiscsiSession.Open($"127.0.0.1:{portal}", Init(i), Wwn(i), lun))
                Assert.Equal(image, session.Read(0, Size));
            var other = Init((i + 1) % Clones);
            Assert.DoesNotContain(Wwn(i), await IscsiTools.DiscoverAsync(portal, other));
            var refused = await IscsiTools.RunAsync("iscsi-inq", "-i", other, $"iscsi://127.0.0.1:{portal}/{Wwn(i)}/{lun}");
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Throws<InvalidOperationException>(() => LibiscsiSession.Open($"127.0.0.1:{portal}", other, Wwn(i), lun).Dispose());
        }

        var delete = "{\"clones\":[" + string.Join(",", Enumerable.Range(0, Clones).Select(i =>
            $"{{\"dst\":\"{Dst(i)}\",\"wwn\":\"{Wwn(i)}\",\"deleteClones\":1}}")) + "]}";
        Assert.Equal("complete", await RunJob(http, HttpMethod.Delete, delete, s));

        var left = (await Zfs("list", "-H", "-o", "name", "-t", "all", "-r", root)).StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < Clones; i++)
        {
            Assert.DoesNotContain(Dst(i), left);
            Assert.DoesNotContain(Wwn(i), await IscsiTools.DiscoverAsync(portal, Init(i)));
        }
        Assert.Contains(golden, left);
        Assert.Contains(golden + "@1", left);
    }

    private static async Task<ProcessResult> Zfs(params string[] args)
    {
        var r = await ProcessRunner.Default.RunAsync(new ProcessSpec("zfs", args));
        Assert.True(r.Succeeded, $"zfs {string.Join(' ', args)}: {r.StdErr}");
        return r;
    }

    private static async Task<string> RunJob(HttpClient http, HttpMethod method, string body, CairnProcess s)
    {
        var id = (string)(await Send(http, method, "/lun/api/v1.0/clone", body))["job_id"]!;
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var st = await Send(http, HttpMethod.Get, "/lun/api/v1.0/clone_status/" + id);
            var status = (string)st["status"]!;
            if (status == "complete") return status;
            if (status == "failed") return "failed: " + st.ToJsonString() + "\n" + s.Log;
            Assert.True(sw.Elapsed < TimeSpan.FromMinutes(3), st.ToJsonString());
            await Task.Delay(100);
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

/// <summary>
/// The seed's zpool <c>na-jbod-02-p01</c>, file-backed in a temp directory, made for this class when no pool of that
/// name exists (and then destroyed at the end; a pool found already there is left alone), plus one tgtd of its own.
/// </summary>
public sealed class LunZfsFixture : IAsyncLifetime
{
    public const string Pool = "na-jbod-02-p01";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "cairn-lunzfs-" + Guid.NewGuid().ToString("N"));
    private bool _created;
    private IDisposable? _turn;

    public TgtdFixture Tgtd { get; } = new();

    public async ValueTask InitializeAsync()
    {
        ExternalTool.Require("zfs", "zfs-fuse");
        ExternalTool.Require("zpool", "zfs-fuse");
        ExternalTool.Require("zfs-fuse", "zfs-fuse");
        await ZfsDaemon.EnsureRunningAsync();
        // The engine tests' seed-name test makes the same zpool, possibly at the same time: take turns.
        _turn = await MachineLock.AcquireAsync(Pool, CancellationToken.None);
        var list = await ProcessRunner.Default.RunAsync(new ProcessSpec("zpool", ["list", "-H", "-o", "name"]));
        list.ThrowIfFailed();
        if (!list.StdOut.Split('\n').Contains(Pool))
        {
            Directory.CreateDirectory(_dir);
            var file = Path.Combine(_dir, "pool.img");
            using (var f = File.Create(file)) f.SetLength(1L << 30);
            (await ProcessRunner.Default.RunAsync(new ProcessSpec("zpool", ["create", "-m", Path.Combine(_dir, "mnt"), Pool, file]))).ThrowIfFailed();
            _created = true;
        }
        await Tgtd.InitializeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Tgtd.DisposeAsync();
        if (_created) await ZfsDaemon.DestroyPoolAsync(Pool);
        _turn?.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}

using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Cairn.Api;
using Cairn.Api.Lun;
using Cairn.Core.Jobs;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;
using Cairn.Engine;
using Cairn.Core.Pools;
using Cairn.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cairn.Api.Tests.Lun;

/// <summary>
/// The LUN clone API over real parts in a temp directory: embedded engine, SQLite store, volume and target services,
/// job engine, Kestrel on a loopback port. <see cref="Crash"/> abandons everything without a clean stop, like kill -9,
/// and <see cref="StartAsync(string)"/> opens the same files again.
/// </summary>
public sealed class LunHost : IAsyncDisposable
{
    public const string Pool = "tank";
    public const string Src = "tank/images/golden@1";

    private WebApplication _app = null!;
    public string Dir { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    /// <summary>The embedded engine behind the host's pools (its synchronous methods are handy in assertions).</summary>
    public EmbeddedEngine Engine { get; private set; } = null!;
    public IStateStore Store { get; private set; } = null!;
    public VolumeService Volumes { get; private set; } = null!;
    public TargetService Targets { get; private set; } = null!;
    public JobEngine Jobs { get; private set; } = null!;
    /// <summary>The host's container (endpoints, options).</summary>
    public IServiceProvider Services => _app.Services;

    public static async Task<LunHost> StartAsync(string? dir = null, bool withImage = true)
    {
        var h = new LunHost { Dir = dir ?? Path.Combine(Path.GetTempPath(), "cairn-lun-" + Guid.NewGuid().ToString("N")) };
        Directory.CreateDirectory(h.Dir);
        await h.OpenAsync();
        if (withImage && h.Engine.GetSnapshot("tank/images/golden", "1") is null)
        {
            await h.Volumes.CreateVolumeAsync("tank/images/golden", 1 << 20, parents: true);
            using (var dev = h.Engine.Open("tank/images/golden")) dev.Write(0, Encoding.ASCII.GetBytes("golden image".PadRight(512)), fua: true);
            await h.Volumes.CreateSnapshotAsync("tank/images/golden", "1");
            await h.Volumes.CreateVolumeAsync("tank/images/other", 1 << 20, false);
            await h.Volumes.CreateSnapshotAsync("tank/images/other", "1");
        }
        return h;
    }

    private async Task OpenAsync()
    {
        // The same composition as `cairn serve` (the host library), on loopback ports of its own.
        var options = new CairnOptions
        {
            Data = Dir, Http = "127.0.0.1:0", Iscsi = "127.0.0.1:0", Socket = "none", Pools = Pool, EngineSync = false, JobConcurrency = 4,
        };
        _app = ServerHost.Build(options, b => b.Logging.ClearProviders());
        await _app.StartAsync();
        var sp = _app.Services;
        Engine = (EmbeddedEngine)sp.GetServices<EngineProvider>().Single(p => p.Kind == "embedded").Engine;
        Store = sp.GetRequiredService<IStateStore>();
        Volumes = sp.GetRequiredService<VolumeService>();
        Targets = sp.GetRequiredService<TargetService>();
        Jobs = sp.GetRequiredService<JobEngine>();
        var addr = sp.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First(a => a.StartsWith("http", StringComparison.Ordinal));
        Http = new HttpClient { BaseAddress = new Uri(addr) };
    }

    /// <summary>Starts a second host over this host's files (after <see cref="Crash"/>).</summary>
    public static Task<LunHost> ReopenAsync(string dir) => StartAsync(dir, withImage: false);

    /// <summary>Drops everything without stopping jobs or recording anything: what the files hold is what kill -9 leaves.</summary>
    public async Task Crash()
    {
        Http.Dispose();
        await _app.StopAsync(new CancellationToken(true));
        Store.Dispose();
        Engine.Dispose();
        _app.Services.GetRequiredService<DataDirectoryLock>().Dispose();
    }

    public async Task<(HttpStatusCode Code, JsonNode? Body)> SendAsync(HttpMethod method, string path, string? json = null)
    {
        using var req = new HttpRequestMessage(method, LunCloneApi.Prefix + path);
        if (json is not null) req.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var resp = await Http.SendAsync(req);
        var text = await resp.Content.ReadAsStringAsync();
        return (resp.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public Task<(HttpStatusCode Code, JsonNode? Body)> PostAsync(string path, string json) => SendAsync(HttpMethod.Post, path, json);

    /// <summary>Submits, waits for the job to finish, returns its clone_status body.</summary>
    public async Task<JsonNode> RunAsync(HttpMethod method, string json)
    {
        var (code, body) = await SendAsync(method, "/clone", json);
        Assert.True(code == HttpStatusCode.Created, $"{code}: {body?.ToJsonString()}");
        var id = (string)body!["job_id"]!;
        await Jobs.WaitAsync(Guid.Parse(id)).WaitAsync(TimeSpan.FromSeconds(60));
        // The status answer is re-rendered when the job finishes, a moment after waiters are released: poll for it.
        for (int i = 0; ; i++)
        {
            var (sc, status) = await SendAsync(HttpMethod.Get, "/clone_status/" + id + "?items=1");
            Assert.Equal(HttpStatusCode.OK, sc);
            if ((string?)status!["status"] is "complete" or "failed" || i == 200) return status;
            await Task.Delay(10);
        }
    }

    public static string Wwn(int i) => $"iqn.2014-11.nmc-probe.org:testbed.node{i:D4}";
    public static string Init(int i) => $"iqn.2014-11.nmc-probe.org:init{i:D4}";
    public static string Dst(int i) => $"tank/nodes/node{i:D4}";

    public static string CreateBody(IEnumerable<int> items, string src = Src, Func<int, string>? extra = null) =>
        "{\"clones\":[" + string.Join(",", items.Select(i =>
            $"{{\"src\":\"{src}\",\"dst\":\"{Dst(i)}\",\"wwn\":\"{Wwn(i)}\",\"initiators\":[\"{Init(i)}\"],\"createParent\":1{extra?.Invoke(i)}}}")) + "]}";

    public static string DeleteBody(IEnumerable<int> items, string flag = "\"deleteClones\":true") =>
        "{\"clones\":[" + string.Join(",", items.Select(i => $"{{\"dst\":\"{Dst(i)}\",\"wwn\":\"{Wwn(i)}\",{flag}}}")) + "]}";

    public async ValueTask DisposeAsync()
    {
        try
        {
            Http.Dispose();
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        catch (ObjectDisposedException)
        {
            // Crashed already.
        }
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

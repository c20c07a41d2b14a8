using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Cairn.Api.Tests.Errors;
using Cairn.Core.Identity;
using Cairn.Hosting;
using Cairn.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>
/// Tokens for the policy tests: <c>user:project</c> as Cinder's noauth (an admin), except users named
/// <c>member…</c> or <c>reader…</c>, who get that role alone.
/// </summary>
public sealed class TestTokens : ITokenValidator
{
    private readonly NoAuthTokenValidator _noauth = new();

    public async ValueTask<Caller?> ValidateAsync(string token, CancellationToken ct)
    {
        var c = await _noauth.ValidateAsync(token, ct);
        if (c is null) return null;
        if (c.UserId.StartsWith("member", StringComparison.Ordinal)) return c with { Roles = [Roles.Member, Roles.Reader] };
        if (c.UserId.StartsWith("reader", StringComparison.Ordinal)) return c with { Roles = [Roles.Reader] };
        if (c.UserId == "forged") return null;
        return c;
    }
}

/// <summary>
/// The whole server composition in process, on loopback ports (HTTP port 0; iSCSI on a free port so that connection
/// info names a portal initiators can reach), with the Block Storage pool <c>tank</c> and <see cref="TestTokens"/>.
/// One per test class (a class fixture).
/// </summary>
public sealed class BlockStorageHost : IAsyncDisposable, IAsyncLifetime
{
    private WebApplication _app = null!;
    private readonly bool _keep;

    public BlockStorageHost() : this(Path.Combine(Path.GetTempPath(), "cairn-bs-" + Guid.NewGuid().ToString("N")), keep: false) { }

    /// <summary>A host over <paramref name="dir"/> that leaves the directory in place (a restart test opens it again).</summary>
    public static BlockStorageHost Over(string dir) => new(dir, keep: true);

    private BlockStorageHost(string dir, bool keep)
    {
        Dir = dir;
        _keep = keep;
    }

    public string Dir { get; }

    /// <summary>The server's backup directory (StarlingX exports and imports), inside <see cref="Dir"/>.</summary>
    public string BackupDir => Path.Combine(Dir, "backups");
    public HttpClient Http { get; private set; } = null!;
    public CapturedLogs Logs { get; } = new();
    public IServiceProvider Services => _app.Services;
    public Uri Url { get; private set; } = null!;
    public int IscsiPort { get; private set; }

    /// <summary>Admin of project <see cref="Project"/> (noauth form).</summary>
    public const string Project = "0123456789abcdef0123456789abcdef";
    public const string Admin = "admin:" + Project;

    public async ValueTask InitializeAsync()
    {
        IscsiPort = CairnServer.FreePort();
        var options = new CairnOptions
        {
            Data = Dir, Http = "127.0.0.1:0", Iscsi = $"127.0.0.1:{IscsiPort}", Socket = "none", Pools = "tank", EngineSync = false,
            BlockStoragePool = "tank", BackupDir = BackupDir,
        };
        _app = ServerHost.Build(options, b =>
        {
            b.Logging.ClearProviders();
            b.Logging.AddProvider(Logs);
            b.Logging.SetMinimumLevel(LogLevel.Debug);
            b.Services.AddSingleton<ITokenValidator, TestTokens>();
        });
        await _app.StartAsync();
        var addr = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First(a => a.StartsWith("http", StringComparison.Ordinal));
        Url = new Uri(addr);
        Http = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromMinutes(2) };
        // Room for every test of a class in the one project (Cinder's default is 10 volumes and 10 snapshots).
        var q = await SendAsync("PUT", $"/v3/{Project}/os-quota-sets/{Project}", """{"quota_set": {"volumes": 1000, "snapshots": 1000}}""");
        if (q.Code != HttpStatusCode.OK) throw new InvalidOperationException("quota: " + q.Text);
    }

    public sealed record Answer(HttpStatusCode Code, HttpResponseMessage Response, JsonNode? Body, string Text)
    {
        public string? Header(string name) => Response.Headers.TryGetValues(name, out var v) ? string.Join(",", v) : Response.Content.Headers.TryGetValues(name, out var c) ? string.Join(",", c) : null;
    }

    /// <summary>Sends a request with a token (default: the admin) and a microversion header when given.</summary>
    public async Task<Answer> SendAsync(string method, string path, object? json = null, string? token = Admin, string? version = null,
        string contentType = "application/json", IDictionary<string, string>? headers = null)
    {
        using var req = new HttpRequestMessage(new HttpMethod(method), path);
        if (json is not null)
        {
            var text = json as string ?? System.Text.Json.JsonSerializer.Serialize(json, Cairn.Api.Json.Options);
            req.Content = new StringContent(text, Encoding.UTF8);
            req.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }
        if (token is not null) req.Headers.TryAddWithoutValidation("X-Auth-Token", token);
        if (version is not null) req.Headers.TryAddWithoutValidation("OpenStack-API-Version", version);
        foreach (var (k, v) in headers ?? new Dictionary<string, string>()) req.Headers.TryAddWithoutValidation(k, v);
        var resp = await Http.SendAsync(req);
        var body = await resp.Content.ReadAsStringAsync();
        JsonNode? node = null;
        if (body.Length > 0 && resp.Content.Headers.ContentType?.MediaType == "application/json") node = JsonNode.Parse(body);
        return new Answer(resp.StatusCode, resp, node, body);
    }

    /// <summary>Creates a volume through the API and returns its id (size in GiB).</summary>
    public async Task<string> CreateVolumeAsync(int size = 1, string? name = null, string token = Admin, string project = Project, object? extra = null)
    {
        var body = new JsonObject { ["size"] = size, ["name"] = name ?? "v-" + Guid.NewGuid().ToString("N")[..8] };
        if (extra is JsonObject e) foreach (var (k, v) in e) body[k] = v?.DeepClone();
        var r = await SendAsync("POST", $"/v3/{project}/volumes", new JsonObject { ["volume"] = body }.ToJsonString(), token);
        Assert.True(r.Code == HttpStatusCode.Accepted, r.Text);
        return r.Body!["volume"]!["id"]!.GetValue<string>();
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            var dataLock = _app.Services.GetRequiredService<DataDirectoryLock>();
            await _app.DisposeAsync();
            dataLock.Dispose(); // registered as an instance: the container does not dispose it

        }
        if (!_keep) try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

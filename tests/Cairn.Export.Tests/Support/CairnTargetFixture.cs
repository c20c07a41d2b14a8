using System.Net;
using Cairn.Core.Pools;
using Cairn.Engine;
using Cairn.Iscsi.Target;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cairn.Export.Tests.Support;

/// <summary>
/// Cairn's own iSCSI target, in process: Kestrel listening for iSCSI on a free loopback port (as <c>cairn serve</c>
/// does), every log line of the target kept, and an embedded-engine pool in a temp directory for the volumes.
/// </summary>
public sealed class CairnTargetFixture : IAsyncLifetime
{
    public const string PoolName = "emb";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "cairn-export-tests", Guid.NewGuid().ToString("N"));
    private IHost? _app;
    private EmbeddedEngine? _engine;

    public CapturingLogger<CairnTargetFixture> Log { get; } = new();
    public PoolRouter Router { get; } = new();
    public TargetRegistry Registry { get; private set; } = null!;
    public string Portal { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        _engine = new EmbeddedEngine(_dir);
        Router.Bind(PoolName, _engine);
        await Router.AttachPoolAsync(PoolName);

        var b = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        b.Logging.ClearProviders();
        b.Logging.SetMinimumLevel(LogLevel.Trace);
        b.Services.AddSingleton<ILoggerProvider>(_ => new CapturingProvider<CairnTargetFixture>(Log)); // the host's container disposes it
        b.Services.AddCairnIscsi();
        b.Services.AddCairnIscsiListener(new IPEndPoint(IPAddress.Loopback, 0));
        _app = b.Build();
        await _app.StartAsync();
        Registry = _app.Services.GetRequiredService<TargetRegistry>();
        Portal = $"127.0.0.1:{_app.Services.GetRequiredService<IscsiListener>().LocalEndPoint.Port}";
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _app.StopAsync(cts.Token);
            _app.Dispose();
        }
        Router.Dispose();
        _engine?.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}

using System.Net;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Target;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>A real Kestrel-hosted iSCSI target on 127.0.0.1 with an ephemeral port.</summary>
internal sealed class TargetHost : IAsyncDisposable
{
    public const string TargetIqn = "iqn.2026-11.io.cairn:test";
    public const string Initiator1 = "iqn.2026-11.io.cairn:init1";
    public const string Initiator2 = "iqn.2026-11.io.cairn:init2";

    private readonly IHost _app;

    private TargetHost(IHost app, TargetRegistry registry, int port)
    {
        _app = app;
        Registry = registry;
        Port = port;
    }

    public TargetRegistry Registry { get; }
    /// <summary>A service of the host (the shared <see cref="WriteBufferBudget"/>, …).</summary>
    public T Service<T>() where T : notnull => _app.Services.GetRequiredService<T>();
    public int Port { get; }
    public string Url(string iqn = TargetIqn, int lun = 0) => $"iscsi://127.0.0.1:{Port}/{iqn}/{lun}";

    public static async Task<TargetHost> StartAsync(Action<IscsiTargetOptions>? configure = null, bool addDefaultTarget = true, TimeSpan? shutdownTimeout = null,
        ILoggerProvider? logs = null)
    {
        var b = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        b.Logging.ClearProviders();
        if (logs is not null) b.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Trace);
        if (shutdownTimeout is { } timeout) b.Services.Configure<HostOptions>(o => o.ShutdownTimeout = timeout);
        b.Services.AddCairnIscsi(configure);
        b.Services.AddCairnIscsiListener(new IPEndPoint(IPAddress.Loopback, 0));
        var app = b.Build();
        await app.StartAsync(TestContext.Current.CancellationToken);
        var registry = app.Services.GetRequiredService<TargetRegistry>();
        var host = new TargetHost(app, registry, app.Services.GetRequiredService<IscsiListener>().LocalEndPoint.Port);
        if (addDefaultTarget)
            registry.AddOrUpdate(new IscsiTarget
            {
                Iqn = TargetIqn,
                Luns = new Dictionary<int, Cairn.Iscsi.Scsi.IScsiLogicalUnit> { [0] = new TestLogicalUnit() },
                Initiators = [Initiator1, Initiator2],
            });
        return host;
    }

    public static ChapSecret Secret(string user, string secret) => new(user, secret);

    /// <summary>Stops the host without a token of its own: with <c>shutdownTimeout: Timeout.InfiniteTimeSpan</c> this
    /// completes only when every connection has ended by itself.</summary>
    public async Task StopWithoutTimeoutAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        _app.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(cts.Token);
        _app.Dispose();
    }
}

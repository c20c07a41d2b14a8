using Cairn.Api;
using Cairn.Api.Admin;
using Cairn.Api.Lun;
using Cairn.Core;
using Cairn.Core.Jobs;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;
using Cairn.Engine;
using Cairn.Iscsi.Target;
using Cairn.Store;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Cairn.Server;

/// <summary>
/// <c>cairn serve</c>: one process, one HTTP listener for every API (by path) and, with its issue, the iSCSI listener.
/// Everything is opened, recovered and reconciled before the listeners start, so <c>/healthz</c> answers 200 as soon
/// as it answers at all.
/// </summary>
public static class ServerHost
{
    public static WebApplication Build(CairnOptions options)
    {
        options.Validate();
        var data = Path.GetFullPath(options.Data);
        Directory.CreateDirectory(data);
        var dataLock = DataDirectoryLock.Acquire(data);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = data });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ "; o.UseUtcTimestamp = true; });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);

        var http = CairnOptions.ParseEndpoint(options.Http, "http");
        var socket = options.SocketPath(data, out var socketWarning);
        if (socket is not null && File.Exists(socket))
        {
            // A socket left by a server that was killed (the data directory lock says none is running now). Sockets
            // have no length; anything else there is somebody's file and stays.
            if (new FileInfo(socket).Length != 0) throw CairnException.Invalid($"socket path {socket} is an existing file");
            File.Delete(socket);
        }
        // Read straight into a buffer instead of a zero-byte wait first: halves receive calls per 128 KiB iSCSI write
        // (measured with perf stat in bench `iscsi`), at the cost of a buffer per connection that is idle.
        builder.WebHost.UseSockets(o => o.WaitForDataBeforeAllocatingBuffer = false);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 64 << 20;
            k.Listen(http, lo => HttpsSetup.Configure(lo, options));
            if (socket is not null) k.ListenUnixSocket(socket, lo => lo.Protocols = HttpProtocols.Http1);
            k.ListenIscsi(CairnOptions.ParseEndpoint(options.Iscsi, "iscsi"));
        });

        var s = builder.Services;
        s.AddSingleton(options);
        s.AddSingleton(new ServerSocket(socket, socketWarning));
        s.AddSingleton(dataLock);
        s.AddSingleton<IVolumeEngine>(_ => new EmbeddedEngine(Path.Combine(data, "pool")));
        s.AddSingleton<IStateStore>(_ => new SqliteStateStore(Path.Combine(data, "state.db")));
        s.AddSingleton<VolumeService>();
        s.AddSingleton(_ => SecretBox.FromKeyFile(Path.Combine(data, "secret.key")));
        s.AddSingleton<TargetService>();
        builder.AddCairnIscsi(listen: null);
        s.AddSingleton<IscsiBridge>();
        s.AddSingleton<ITargetSessions>(sp => sp.GetRequiredService<IscsiBridge>());
        s.AddSingleton<CairnMetrics>();
        s.AddSingleton<IJobHandler, BatchJob>();
        s.AddSingleton(new JobEngineOptions { MaxConcurrentJobs = options.JobConcurrency, RetainFor = TimeSpan.FromDays(options.JobRetentionDays) });
        s.AddSingleton(sp => new JobEngine(sp.GetRequiredService<IStateStore>(), sp.GetServices<IJobHandler>(), sp.GetRequiredService<JobEngineOptions>(), sp.GetRequiredService<ILogger<JobEngine>>()));
        // Order matters: reconcile the store with the engine, then resume jobs, then (implicitly) start listening.
        s.AddHostedService<StartupReconciler>();
        s.AddHostedService(sp => sp.GetRequiredService<IscsiBridge>());
        s.AddHostedService(sp => sp.GetRequiredService<JobEngine>());
        s.AddSingleton(AdminApi.ErrorShape);
        s.AddLunCloneApi();
        s.AddOpenApi();
        s.ConfigureHttpJsonOptions(j =>
        {
            j.SerializerOptions.PropertyNamingPolicy = Json.Options.PropertyNamingPolicy;
            foreach (var c in Json.Options.Converters) j.SerializerOptions.Converters.Add(c);
        });

        var app = builder.Build();
        app.UseMiddleware<ApiErrorMiddleware>();
        app.MapGet("/healthz", () => Results.Text("ok\n")).ExcludeFromDescription();
        app.MapGet("/metrics", (CairnMetrics m) => Results.Text(m.Render(), "text/plain; version=0.0.4")).ExcludeFromDescription();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapCairnAdminApi();
        app.MapCairnJobsApi();
        app.MapCairnBatchApi();
        app.MapLunCloneApi();
        app.MapCairnTargetsApi();
        MetricsSetup.Register(app.Services);
        return app;
    }

    public static async Task<int> RunAsync(CairnOptions options, CancellationToken ct)
    {
        await using var app = Build(options);
        var log = app.Services.GetRequiredService<ILogger<CairnOptions>>();
        await app.StartAsync(ct);
        var (socket, socketWarning) = app.Services.GetRequiredService<ServerSocket>();
        // Only the server's user (and root) may connect: a peer there may name server-side files to import.
        if (socket is not null) File.SetUnixFileMode(socket, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        if (socketWarning is not null) log.LogWarning("{Warning}", socketWarning);
        log.LogInformation("cairn serving: http {Http}, socket {Socket}, data {Data}", options.Http, socket ?? "none", Path.GetFullPath(options.Data));
        await app.WaitForShutdownAsync(ct);
        return 0;
    }
}

/// <summary>The Unix socket the server listens on (null: none), and why there is none when it was wanted.</summary>
internal sealed record ServerSocket(string? Path, string? Warning);

/// <summary>Brings the store in line with the engine before anything else runs.</summary>
internal sealed class StartupReconciler(VolumeService volumes) : IHostedService
{
    public Task StartAsync(CancellationToken ct) => volumes.ReconcileAsync(ct);
    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}

/// <summary>Scrape-time gauges.</summary>
internal static class MetricsSetup
{
    public static void Register(IServiceProvider sp)
    {
        var m = sp.GetRequiredService<CairnMetrics>();
        var engine = sp.GetRequiredService<IVolumeEngine>();
        var jobs = sp.GetRequiredService<JobEngine>();
        m.AddCollector(() =>
        {
            var p = engine.GetPoolInfo();
            var running = jobs.List(JobState.Running, 10_000).Count;
            var pending = jobs.List(JobState.Pending, 10_000).Count;
            return
            [
                ("cairn_pool_size_bytes", "Capacity of the filesystem holding the pool.", "gauge", [("", p.Size)]),
                ("cairn_pool_allocated_bytes", "Bytes the pool's data occupies.", "gauge", [("", p.Allocated)]),
                ("cairn_pool_free_bytes", "Bytes still available.", "gauge", [("", p.Free)]),
                ("cairn_datasets", "Volumes and folders.", "gauge", [("", p.Datasets)]),
                ("cairn_snapshots", "Snapshots.", "gauge", [("", p.Snapshots)]),
                ("cairn_jobs", "Jobs by state.", "gauge", [("state=\"running\"", running), ("state=\"pending\"", pending)]),
            ];
        });
    }
}

/// <summary>One server per data directory: an exclusive lock on <c>cairn.lock</c> for the process's life.</summary>
public sealed class DataDirectoryLock : IDisposable
{
    private readonly FileStream _file;
    private DataDirectoryLock(FileStream f) => _file = f;

    public static DataDirectoryLock Acquire(string dir)
    {
        try
        {
            // .NET takes an advisory flock for FileShare.None on Unix.
            return new DataDirectoryLock(new FileStream(Path.Combine(dir, "cairn.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException)
        {
            throw CairnException.Conflict($"another cairn server is using {dir}");
        }
    }

    public void Dispose() => _file.Dispose();
}

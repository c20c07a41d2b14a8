using Cairn.Api;
using Cairn.Api.Admin;
using Cairn.Api.BlockStorage;
using Cairn.Api.BlockStorage.Model;
using Cairn.Api.Installer;
using Cairn.Api.Lun;
using Cairn.Core.Export;
using Cairn.Core.Jobs;
using Cairn.Core.Pools;
using Cairn.Core.Processes;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Transfer;
using Cairn.Core.Workflows;
using Cairn.Engine;
using Cairn.Engine.Zfs;
using Cairn.Export.Tgt;
using Cairn.Iscsi.Target;
using Cairn.Store;

namespace Cairn.Hosting;

/// <summary>An exporter Cairn can be configured with (<c>--exporter KIND</c>).</summary>
public sealed record ExporterFactory(string Kind, Func<IServiceProvider, ITargetExporter> Create);

/// <summary>
/// The composition of <c>cairn serve</c>, in one place for the server, the tests and the bench: the state store,
/// engines and pools, volume and target services, the exporter behind its queue, the job engine and every API.
/// </summary>
public static class CairnServiceCollectionExtensions
{
    /// <summary>Everything <c>cairn serve</c> runs, over the data directory <paramref name="data"/>.</summary>
    public static IServiceCollection AddCairn(this IServiceCollection s, CairnOptions options, string data, ServerSocket socket, DataDirectoryLock dataLock)
    {
        s.AddSingleton(options);
        s.AddSingleton(socket);
        s.AddSingleton(dataLock);
        s.AddCairnCore(options, data);
        s.AddCairnEngines(options, data);
        s.AddCairnExporters(options);
        s.AddCairnApis();
        s.AddCairnIdentity(options, data);
        s.AddCairnBlockStorage(new BlockStorageOptions { Pool = options.BlockStoragePool, Portal = options.BlockStoragePortalOrIscsi(), BackupDir = Path.GetFullPath(options.BackupDir) });
        s.AddCairnInstaller(new InstallerOptions { Directory = Path.Combine(data, "installer") });
        return s;
    }

    /// <summary>State store, locks, services, job engine, and the start-up order: pools, reconcile, exporter, jobs.</summary>
    public static IServiceCollection AddCairnCore(this IServiceCollection s, CairnOptions options, string data)
    {
        s.AddSingleton<IStateStore>(_ => new SqliteStateStore(Path.Combine(data, "state.db")));
        s.AddSingleton<IProcessRunner>(sp => new ProcessRunner(sp.GetRequiredService<ILogger<ProcessRunner>>()));
        s.AddSingleton<KeyedLock>();
        s.AddSingleton<TargetIndex>();
        s.AddSingleton<PoolRouter>();
        s.AddSingleton<PoolService>();
        s.AddSingleton<IRecordReconciler, AdminRecordReconciler>();
        s.AddSingleton<VolumeService>();
        s.AddSingleton<ImageTransfer>();
        s.AddSingleton(_ => SecretBox.FromKeyFile(Path.Combine(data, "secret.key")));
        s.AddSingleton<IExportContext, ExportContext>();
        s.AddSingleton<ExportQueue>();
        s.AddSingleton<TargetService>();
        s.AddSingleton(new JobEngineOptions { MaxConcurrentJobs = options.JobConcurrency, RetainFor = TimeSpan.FromDays(options.JobRetentionDays) });
        s.AddSingleton(sp => new JobEngine(sp.GetRequiredService<IStateStore>(), sp.GetServices<IJobHandler>(), sp.GetRequiredService<JobEngineOptions>(), sp.GetRequiredService<ILogger<JobEngine>>()));
        // Order matters: pools and reconcile, then the exporter's first reconcile, then jobs, then (implicitly) listening.
        s.AddHostedService<StartupReconciler>();
        s.AddHostedService(sp => sp.GetRequiredService<ExportQueue>());
        s.AddHostedService(sp => sp.GetRequiredService<JobEngine>());
        return s;
    }

    /// <summary>
    /// The engines pools can be created with: the embedded engine (in <c>DATA/pool</c>) and ZFS (a pool adopts the
    /// existing zpool of its name; <c>zfs</c>/<c>zpool</c> are only run once such a pool exists).
    /// </summary>
    public static IServiceCollection AddCairnEngines(this IServiceCollection s, CairnOptions options, string data)
    {
        s.AddSingleton(_ => new EngineProvider("embedded", () => new EmbeddedEngine(Path.Combine(data, "pool"), new EmbeddedEngineOptions { Durable = options.EngineSync })));
        s.AddSingleton(sp => new EngineProvider("zfs", () => new ZfsEngine(ZfsOptionsFor(options), sp.GetRequiredService<IProcessRunner>(), sp.GetRequiredService<ILogger<ZfsEngine>>())));
        return s;
    }

    /// <summary>
    /// With tgt every exported clone needs its image file, so clones are mounted when made (in the clone batch, many at
    /// once) rather than lazily at the backing-path request: a lazy mount runs while tgtd opens other LUNs' files, and
    /// zfs-fuse then serves both slowly (measured: a 1,000-item job stalled at a few mounts per second).
    /// </summary>
    private static ZfsEngineOptions ZfsOptionsFor(CairnOptions options) => new() { LazyMountClones = options.Exporter != "tgt" };

    /// <summary>The exporter chosen by <see cref="CairnOptions.Exporter"/> (cairn or tgt); Cairn's own iSCSI target is always listening (with tgt it exports nothing).</summary>
    public static IServiceCollection AddCairnExporters(this IServiceCollection s, CairnOptions options)
    {
        s.AddSingleton<CairnExporter>();
        s.AddSingleton(new ExporterFactory("cairn", sp => sp.GetRequiredService<CairnExporter>()));
        // tgt: a running tgtd on the control port, driven through tgtadm; checked (tgtadm on PATH) when the host starts.
        s.AddSingleton(new ExporterFactory("tgt", sp => new TgtExporter(
            new TgtOptions { ControlPort = options.TgtControlPort },
            sp.GetRequiredService<IExportContext>(),
            sp.GetRequiredService<IProcessRunner>(),
            sp.GetRequiredService<ILogger<TgtExporter>>())));
        s.AddSingleton(sp =>
        {
            var factories = sp.GetServices<ExporterFactory>().ToList();
            var f = factories.LastOrDefault(x => x.Kind == options.Exporter)
                ?? throw Core.CairnException.Invalid($"exporter '{options.Exporter}' is not known (exporters: {string.Join(", ", factories.Select(x => x.Kind).Distinct())})");
            return f.Create(sp);
        });
        return s;
    }

    /// <summary>The HTTP APIs' services and job handlers.</summary>
    public static IServiceCollection AddCairnApis(this IServiceCollection s)
    {
        s.AddSingleton<CairnMetrics>();
        s.AddSingleton<IJobHandler, BatchJob>();
        s.AddSingleton(AdminApi.ErrorShape);
        s.AddLunCloneApi();
        s.AddCairnOpenApi();
        // A query or route value that does not bind (?limit=abc) throws instead of answering a bare 400: the error
        // middleware then answers in the API's error shape, naming the parameter.
        s.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        s.ConfigureHttpJsonOptions(j =>
        {
            // The contracts' source-generated metadata first; the same naming and converters for anything else.
            j.SerializerOptions.TypeInfoResolverChain.Insert(0, Contracts.CairnJsonContext.Default);
            j.SerializerOptions.PropertyNamingPolicy = Json.Options.PropertyNamingPolicy;
            foreach (var c in Json.Options.Converters) j.SerializerOptions.Converters.Add(c);
            // Answers never carry numbers as strings: the document's number fields say so (bodies are read with Json.Strict).
            j.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });
        return s;
    }

    /// <summary>Maps every endpoint: health, metrics, OpenAPI, the admin, jobs, batch, targets and LUN clone APIs.</summary>
    public static WebApplication MapCairn(this WebApplication app)
    {
        app.UseMiddleware<ApiErrorMiddleware>();
        // HEAD as well as GET: load balancers and uptime probes often ask HEAD.
        app.MapMethods("/healthz", [HttpMethods.Get, HttpMethods.Head], () => Results.Text("ok\n")).ExcludeFromDescription();
        app.MapMethods("/metrics", [HttpMethods.Get, HttpMethods.Head], (CairnMetrics m) => Results.Text(m.Render(), "text/plain; version=0.0.4")).ExcludeFromDescription();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapCairnAdminApi();
        app.MapCairnManageApi();
        app.MapCairnJobsApi();
        app.MapCairnBatchApi();
        app.MapLunCloneApi();
        app.MapCairnTargetsApi();
        app.MapCairnIdentity();
        app.MapCairnBlockStorage();
        app.MapCairnInstaller();
        MetricsSetup.Register(app.Services);
        return app;
    }
}

/// <summary>What exporters need from the rest of Cairn.</summary>
internal sealed class ExportContext(PoolRouter engine, SecretBox secrets) : IExportContext
{
    public Core.Storage.IVolumeEngine Engine => engine;

    public string OpenSecret(ChapCredential credential) => secrets.Open(credential.SealedSecret);
}

/// <summary>Binds the pools, loads the targets and brings the store in line with the engines before anything else runs.</summary>
internal sealed class StartupReconciler(PoolService pools, TargetService targets, VolumeService volumes, CairnOptions options) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        await pools.LoadAsync(options.DeclaredPools(), ct);
        targets.Load();
        await volumes.ReconcileAsync(ct);
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}

/// <summary>Scrape-time gauges.</summary>
internal static class MetricsSetup
{
    public static void Register(IServiceProvider sp)
    {
        var m = sp.GetRequiredService<CairnMetrics>();
        var pools = sp.GetRequiredService<PoolService>();
        var jobs = sp.GetRequiredService<JobEngine>();
        m.AddCollector(() =>
        {
            var views = pools.ListAsync().GetAwaiter().GetResult();
            (string, double)[] Per(Func<Core.Storage.PoolInfo, long> f) =>
                [.. views.Where(v => v.Space is not null).Select(v => ($"pool=\"{v.Name}\"", (double)f(v.Space!)))];
            var running = jobs.List(JobState.Running, 10_000).Count;
            var pending = jobs.List(JobState.Pending, 10_000).Count;
            return
            [
                ("cairn_pool_size_bytes", "Capacity of the pool.", "gauge", Per(p => p.Size)),
                ("cairn_pool_allocated_bytes", "Bytes the pool's data occupies.", "gauge", Per(p => p.Allocated)),
                ("cairn_pool_free_bytes", "Bytes still available.", "gauge", Per(p => p.Free)),
                // The figures of GET /pools: what is in the pool, not the pool itself (which `volume list` shows as a folder row).
                ("cairn_datasets", "Volumes and folders in the pool, the pool itself not counted.", "gauge", Per(p => p.Datasets)),
                ("cairn_snapshots", "Snapshots in the pool.", "gauge", Per(p => p.Snapshots)),
                // The rows `volume list POOL` shows, by type (the pool's own folder row among the folders).
                ("cairn_volumes", "Volumes in the pool.", "gauge", Per(p => p.Volumes)),
                ("cairn_folders", "Folders in the pool, its own root folder included (as volume list shows it).", "gauge", Per(p => p.Folders)),
                ("cairn_jobs", "Jobs by state.", "gauge", [("state=\"running\"", running), ("state=\"pending\"", pending)]),
            ];
        });
    }
}

using System.Text.Json.Nodes;
using Cairn.Core.Jobs;
using Cairn.Core.State;
using Cairn.Store;

namespace Cairn.Core.Tests.Jobs;

/// <summary>A handler defined by a delegate.</summary>
public sealed class TestHandler(string type, Func<JobContext, CancellationToken, Task> run) : IJobHandler
{
    public string Type { get; } = type;

    public Task RunAsync(JobContext ctx, CancellationToken ct) => run(ctx, ct);
}

/// <summary>A SQLite store in a temp directory and engines over it, disposed in the right order.</summary>
public abstract class JobTestBase : IAsyncDisposable
{
    private readonly TempDir _dir = new();
    private readonly List<JobEngine> _engines = [];
    private readonly List<IStateStore> _stores = [];

    protected JobTestBase() => Store = OpenStore();

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    protected IStateStore Store { get; set; }

    protected string DbPath => _dir.File("state.db");

    protected IStateStore OpenStore()
    {
        var s = new SqliteStateStore(DbPath);
        _stores.Add(s);
        return s;
    }

    protected JobEngine NewEngine(JobEngineOptions? options, params IJobHandler[] handlers)
    {
        var e = new JobEngine(Store, handlers, options);
        _engines.Add(e);
        return e;
    }

    protected async Task<JobEngine> StartEngine(JobEngineOptions? options, params IJobHandler[] handlers)
    {
        var e = NewEngine(options, handlers);
        await e.StartAsync(Ct);
        return e;
    }

    protected static JsonObject Request(int n = 0) => new() { ["n"] = n };

    protected static async Task<JobRecord> Finished(JobEngine engine, Guid id)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(Timeout);
        return await engine.WaitAsync(id, cts.Token);
    }

    /// <summary>Polls the store until <paramref name="condition"/> holds for the job.</summary>
    protected async Task<JobRecord> Until(Guid id, Func<JobRecord, bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var job = Store.GetJob(id);
            if (job is not null && condition(job)) return job;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"job {id} never reached the expected state; last: {job?.State} {job?.Phase}");
            await Task.Delay(10, Ct);
        }
    }

    /// <summary>Engines that tests deliberately abandon (a simulated crash) are not disposed.</summary>
    protected void Abandon(JobEngine engine) => _engines.Remove(engine);

    public async ValueTask DisposeAsync()
    {
        foreach (var e in _engines)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await e.StopAsync(cts.Token);
        }
        foreach (var s in _stores) s.Dispose();
        _dir.Dispose();
        GC.SuppressFinalize(this);
    }
}

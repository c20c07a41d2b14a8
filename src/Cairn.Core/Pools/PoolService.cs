using Cairn.Core.State;
using Cairn.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Cairn.Core.Pools;

/// <summary>A pool as the APIs show it.</summary>
public sealed record PoolView(PoolRecord Record, PoolInfo? Space, EngineCapabilities Capabilities, string? Error)
{
    public string Name => Record.Name;
    public string Engine => Record.Engine;
}

/// <summary>
/// Pools: created explicitly (each with the engine chosen then), kept in the state store, bound into the
/// <see cref="PoolRouter"/> at start. A ZFS pool adopts the existing zpool of its name. An older data directory's
/// implicit pools (top-level names of the embedded engine) are adopted as embedded pools when it is opened.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Its only disposable is a SemaphoreSlim whose wait handle is never asked for: nothing to free.")]
public sealed partial class PoolService(PoolRouter router, IEnumerable<EngineProvider> providers, IStateStore store, ILogger<PoolService> log)
{
    private readonly Dictionary<string, EngineProvider> _providers = providers.ToDictionary(p => p.Kind, StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, string> _unavailable = new(StringComparer.Ordinal);

    /// <summary>Engine kinds pools can be created with.</summary>
    public IReadOnlyList<string> EngineKinds => [.. _providers.Keys.Order(StringComparer.Ordinal)];

    /// <summary>
    /// Binds every recorded pool, adopts the embedded engine's implicit pools, and creates the pools the configuration
    /// declares (<paramref name="declared"/>: name → engine kind) that do not exist yet.
    /// </summary>
    public async Task LoadAsync(IReadOnlyDictionary<string, string>? declared = null, CancellationToken ct = default)
    {
        foreach (var rec in store.ListPools())
            await TryBindAsync(rec, ct);
        if (_providers.TryGetValue("embedded", out var embedded))
        {
            var adopted = new List<PoolRecord>();
            foreach (var name in await embedded.Engine.ListPoolsAsync(ct))
            {
                if (router.Has(name) || _unavailable.ContainsKey(name)) continue;
                var rec = new PoolRecord(name, "embedded", DateTimeOffset.UtcNow);
                router.Bind(name, embedded.Engine);
                adopted.Add(rec);
            }
            if (adopted.Count > 0)
            {
                await store.WriteAsync(w => { foreach (var r in adopted) w.Put(r); }, ct);
                Log.Adopted(log, adopted.Count, string.Join(", ", adopted.Select(r => r.Name)));
            }
        }
        foreach (var (name, kind) in declared ?? new Dictionary<string, string>())
            if (!router.Has(name) && !_unavailable.ContainsKey(name)) await CreateAsync(name, kind, ct);
    }

    private async Task TryBindAsync(PoolRecord rec, CancellationToken ct)
    {
        try
        {
            var engine = Provider(rec.Engine).Engine;
            await engine.AttachPoolAsync(rec.Name, ct);
            router.Bind(rec.Name, engine);
        }
        catch (Exception e) when (e is CairnException or IOException)
        {
            // The other pools still serve; this one reports why in `pool list` until it comes back.
            _unavailable[rec.Name] = e.Message;
            Log.Unavailable(log, rec.Name, rec.Engine, e.Message);
        }
    }

    private EngineProvider Provider(string kind) =>
        _providers.TryGetValue(kind, out var p) ? p
        : throw CairnException.Invalid($"engine '{kind}' is not known (engines: {string.Join(", ", EngineKinds)})");

    /// <summary>Creates (or, for ZFS, adopts) a pool. Nothing is recorded unless the engine accepted it.</summary>
    public async Task<PoolView> CreateAsync(string name, string? engineKind, CancellationToken ct = default)
    {
        Names.ValidateDataset(name);
        if (name.Contains('/')) throw CairnException.Invalid($"pool name '{name}' must be one component (no '/')");
        var kind = string.IsNullOrEmpty(engineKind) ? "embedded" : engineKind;
        var provider = Provider(kind);
        await _gate.WaitAsync(ct);
        try
        {
            if (router.Has(name)) throw CairnException.Exists($"pool {name} already exists");
            var info = await provider.Engine.AttachPoolAsync(name, ct);
            var rec = new PoolRecord(name, kind, DateTimeOffset.UtcNow);
            await store.WriteAsync(w => w.Put(rec), ct);
            _unavailable.Remove(name);
            router.Bind(name, provider.Engine);
            Log.Created(log, name, kind);
            return new PoolView(rec, info, provider.Engine.Capabilities, null);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<IReadOnlyList<PoolView>> ListAsync(CancellationToken ct = default)
    {
        var views = new List<PoolView>();
        foreach (var rec in store.ListPools()) views.Add(await ViewAsync(rec, ct));
        return views;
    }

    public async Task<PoolView> GetAsync(string name, CancellationToken ct = default)
    {
        Names.ValidateDataset(name);
        var rec = store.ListPools().FirstOrDefault(p => p.Name == name) ?? throw CairnException.NotFound($"pool {name} does not exist");
        return await ViewAsync(rec, ct);
    }

    private async Task<PoolView> ViewAsync(PoolRecord rec, CancellationToken ct)
    {
        if (_unavailable.TryGetValue(rec.Name, out var why) || !router.Has(rec.Name))
            return new PoolView(rec, null, EngineCapabilities.None, why ?? "not attached");
        var engine = router.EngineFor(rec.Name);
        return new PoolView(rec, await engine.GetPoolInfoAsync(rec.Name, ct), engine.Capabilities, null);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1401, Level = LogLevel.Information, Message = "adopted {Count} implicit pools of the embedded engine: {Names}")]
        public static partial void Adopted(ILogger logger, int count, string names);

        [LoggerMessage(EventId = 1402, Level = LogLevel.Information, Message = "pool {Pool} created on engine {Engine}")]
        public static partial void Created(ILogger logger, string pool, string engine);

        [LoggerMessage(EventId = 1403, Level = LogLevel.Error, Message = "pool {Pool} (engine {Engine}) is unavailable: {Reason}")]
        public static partial void Unavailable(ILogger logger, string pool, string engine, string reason);
    }
}

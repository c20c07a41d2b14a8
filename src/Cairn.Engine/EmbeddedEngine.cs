using System.Text.RegularExpressions;
using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine;

/// <summary>
/// Cairn's embedded thin-provisioned copy-on-write volume engine. A pool is a directory: <c>pool.db</c> (SQLite, WAL)
/// holds datasets, snapshots and layers; each layer is a sparse data file <c>L{id}.data</c> (blocks at their volume
/// offset) and a map log <c>L{id}.map</c>. Opening a directory creates or recovers a pool there.
/// </summary>
public sealed partial class EmbeddedEngine : IVolumeEngine
{
    private readonly string _dir;
    private readonly EmbeddedEngineOptions _options;
    private readonly MetaStore _store;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Dataset> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _childCount = new(StringComparer.Ordinal);
    private readonly Dictionary<long, Layer> _layers = [];
    private long _nextLayerId = 1;
    private long _nextDatasetKey = 1;
    private long _nextSnapshotKey = 1;

    // Group commit: operations queue their metadata changes under _lock; the first waiter writes them all in one
    // transaction while the others wait for it.
    private readonly Lock _commitLock = new();
    private List<Change> _pending = [];
    private long _seq;
    private long _durableSeq;
    private bool _disposed;

    /// <summary>Opens (creating if needed) the pool in <paramref name="directory"/> and reclaims space orphaned by a crash.</summary>
    public EmbeddedEngine(string directory, EmbeddedEngineOptions? options = null)
    {
        _options = options ?? new EmbeddedEngineOptions();
        _dir = Path.GetFullPath(directory);
        Directory.CreateDirectory(_dir);
        _store = new MetaStore(Path.Combine(_dir, "pool.db"), _options.Durable);
        try
        {
            Load();
            ReclaimOrphans();
        }
        catch
        {
            _store.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public string Kind => "embedded";

    /// <summary>The pool directory.</summary>
    public string PoolDirectory => _dir;

    private void Load()
    {
        var (datasets, snapshots, layers) = _store.LoadAll();
        foreach (var row in layers) // ids ascend, and a parent is always older than its children
        {
            Layer? parent = null;
            if (row.Parent is { } pid && !_layers.TryGetValue(pid, out parent))
                throw new InvalidDataException($"pool metadata: layer {row.Id} has missing parent {pid}");
            var layer = new Layer(row.Id, parent, row.Owner, _dir, _options.Durable, isNew: false) { Hidden = row.Hidden };
            if (parent is not null && parent.Owner == layer.Owner) parent.OwnChild = layer;
            _layers.Add(row.Id, layer);
            _nextLayerId = Math.Max(_nextLayerId, row.Id + 1);
        }
        var byKey = new Dictionary<long, Dataset>();
        foreach (var row in datasets)
        {
            var ds = new Dataset(row.Key, row.Id, row.Name, (DatasetKind)row.Kind, row.Size, DateTimeOffset.FromUnixTimeMilliseconds(row.Created));
            byKey.Add(ds.Key, ds);
            _nextDatasetKey = Math.Max(_nextDatasetKey, row.Key + 1);
            _byName.Add(ds.Name, ds);
            AddChild(ds.Name);
            if (row.Top is { } top)
            {
                ds.Top = _layers[top];
                ds.View = new View(ds.Top, ds.Top.Parent);
            }
        }
        foreach (var layer in _layers.Values)
            if (byKey.TryGetValue(layer.Owner, out var owner)) owner.Layers.Add(layer);
        var snapByKey = new Dictionary<long, Snapshot>();
        foreach (var row in snapshots)
        {
            var ds = byKey[row.Dataset];
            var s = new Snapshot(row.Key, row.Id, ds, row.Name, _layers[row.Layer], row.Size, DateTimeOffset.FromUnixTimeMilliseconds(row.Created));
            ds.Snapshots.Add(s);
            snapByKey.Add(s.Key, s);
            _nextSnapshotKey = Math.Max(_nextSnapshotKey, row.Key + 1);
        }
        foreach (var row in datasets)
        {
            if (row.Origin is not { } origin) continue;
            var s = snapByKey[origin];
            var ds = byKey[row.Key];
            ds.Origin = s;
            s.Clones.Add(ds);
        }
    }

    [GeneratedRegex(@"^L(\d+)\.(data|map|map\.tmp)$")]
    private static partial Regex LayerFile();

    /// <summary>Deletes the files of layers that no committed metadata mentions (crash before commit or after destroy).</summary>
    private void ReclaimOrphans()
    {
        bool any = false;
        foreach (var path in Directory.EnumerateFiles(_dir))
        {
            var m = LayerFile().Match(Path.GetFileName(path));
            if (!m.Success) continue;
            long id = long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (_layers.ContainsKey(id) && m.Groups[2].Value != "map.tmp") continue;
            File.Delete(path);
            any = true;
        }
        if (any && _options.Durable) Native.SyncDirectory(_dir);
    }

    private Layer NewLayer(Layer? parent, long owner)
    {
        var layer = new Layer(_nextLayerId++, parent, owner, _dir, _options.Durable, isNew: true);
        _layers.Add(layer.Id, layer);
        return layer;
    }

    private void AddChild(string name)
    {
        var parent = Names.Parent(name)!;
        _childCount[parent] = _childCount.GetValueOrDefault(parent) + 1;
    }

    private void RemoveChild(string name)
    {
        var parent = Names.Parent(name)!;
        if (--_childCount[parent] == 0) _childCount.Remove(parent);
    }

    private void Queue(Change change) => _pending.Add(change);

    private static Change.PutDataset PutDataset(Dataset ds) =>
        new Change.PutDataset(ds.Key, ds.Id, ds.Name, (int)ds.Kind, ds.Size, ds.Top?.Id, ds.Origin?.Key, ds.Created.ToUnixTimeMilliseconds());

    private static Change.PutLayer PutLayer(Layer l) => new Change.PutLayer(l.Id, l.Parent?.Id, l.Owner, l.Hidden);

    /// <summary>Returns once every change queued up to <paramref name="seq"/> is committed (maybe by another thread).</summary>
    private void WaitDurable(long seq)
    {
        if (Volatile.Read(ref _durableSeq) >= seq) return;
        lock (_commitLock)
        {
            if (_durableSeq >= seq) return;
            List<Change> batch;
            long upTo;
            lock (_lock)
            {
                batch = _pending;
                _pending = [];
                upTo = _seq;
            }
            if (batch.Count > 0) _store.Commit(batch);
            Volatile.Write(ref _durableSeq, upTo);
        }
    }

    /// <summary>Makes sure the metadata that created a volume is committed before its data is reported durable.</summary>
    internal void EnsureCommitted() => WaitDurable(Volatile.Read(ref _seq));

    /// <inheritdoc/>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "The error is kept and rethrown once every layer is closed.")]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1065", Justification = "Closing a pool commits its metadata and flushes its layers; a failure there is data loss the caller must see.")]
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
        }
        Exception? error = null;
        try { WaitDurable(Volatile.Read(ref _seq)); }
        catch (Exception e) { error = e; }
        foreach (var layer in _layers.Values)
        {
            // A clean close persists what was written but not flushed; a failure is reported, not swallowed.
            try { layer.Flush(); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { error ??= e; }
            layer.Close();
        }
        _store.Dispose();
        if (error is not null) throw new CairnException(ErrorKind.Internal, "closing the pool failed: " + error.Message, error);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}

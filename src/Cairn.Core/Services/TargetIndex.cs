using Cairn.Core.State;

namespace Cairn.Core.Services;

/// <summary>
/// In-memory index of the durable targets (IQN → target, dataset or snapshot → IQNs), so that a target change or a
/// "is this volume exported?" check costs the same with 10 or 10,000 targets. Written only by
/// <see cref="TargetService"/>; read by it and by <see cref="VolumeService"/> (which refuses to destroy what is exported).
/// </summary>
public sealed class TargetIndex
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, TargetRecord> _targets = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, HashSet<string>> _byDataset = new(StringComparer.Ordinal);

    public TargetRecord? Get(string iqn)
    {
        lock (_gate) return _targets.GetValueOrDefault(iqn);
    }

    public IReadOnlyList<TargetRecord> List()
    {
        lock (_gate) return _targets.Values.OrderBy(t => t.Iqn, StringComparer.Ordinal).ToList();
    }

    public int Count
    {
        get { lock (_gate) return _targets.Count; }
    }

    /// <summary>IQNs of targets exporting a volume (<c>pool/v</c>) or snapshot (<c>pool/v@s</c>).</summary>
    public IReadOnlyList<string> Using(string datasetOrSnapshot)
    {
        lock (_gate) return _byDataset.TryGetValue(datasetOrSnapshot, out var s) ? [.. s.Order(StringComparer.Ordinal)] : [];
    }

    internal void Replace(IEnumerable<TargetRecord> removed, IEnumerable<TargetRecord> added)
    {
        lock (_gate)
        {
            foreach (var t in removed) Unindex(t);
            foreach (var t in added) Index(t);
        }
    }

    private void Index(TargetRecord t)
    {
        _targets[t.Iqn] = t;
        foreach (var l in t.Luns)
        {
            var key = l.Snapshot is null ? l.Dataset : l.Dataset + "@" + l.Snapshot;
            if (!_byDataset.TryGetValue(key, out var set)) _byDataset[key] = set = new HashSet<string>(StringComparer.Ordinal);
            set.Add(t.Iqn);
        }
    }

    private void Unindex(TargetRecord t)
    {
        _targets.Remove(t.Iqn);
        foreach (var l in t.Luns)
        {
            var key = l.Snapshot is null ? l.Dataset : l.Dataset + "@" + l.Snapshot;
            if (_byDataset.TryGetValue(key, out var set) && set.Remove(t.Iqn) && set.Count == 0) _byDataset.Remove(key);
        }
    }
}

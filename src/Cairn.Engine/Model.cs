using Cairn.Core.Storage;

namespace Cairn.Engine;

/// <summary>In-memory state of a volume or folder; mutated only under the engine lock.</summary>
internal sealed class Dataset(long key, Guid id, string name, DatasetKind kind, long size, DateTimeOffset created)
{
    /// <summary>Sequential metadata key (appends keep the SQLite B-trees from scattering writes).</summary>
    public readonly long Key = key;
    public readonly Guid Id = id;
    /// <summary>Changed only by a rename, under the engine lock; devices read it for messages only.</summary>
    public volatile string Name = name;
    public readonly DatasetKind Kind = kind;
    public long Size = size;
    public readonly DateTimeOffset Created = created;
    public Layer? Top;
    public Snapshot? Origin;
    public readonly List<Snapshot> Snapshots = [];
    /// <summary>Every layer this volume owns: its top, its snapshots' layers, hidden layers.</summary>
    public readonly List<Layer> Layers = [];
    public View? View;
    public volatile bool Destroyed;
}

internal sealed class Snapshot(long key, Guid id, Dataset dataset, string name, Layer layer, long size, DateTimeOffset created)
{
    public readonly long Key = key;
    public readonly Guid Id = id;
    /// <summary>The volume it belongs to; a promote moves it to the promoted clone (under the engine lock).</summary>
    public volatile Dataset Dataset = dataset;
    /// <summary>Changed only by a rename, under the engine lock.</summary>
    public volatile string Name = name;
    public readonly Layer Layer = layer;
    public readonly long Size = size;
    public readonly DateTimeOffset Created = created;
    public readonly HashSet<Dataset> Clones = [];
    public volatile bool Destroyed;
    public string FullName => Dataset.Name + "@" + Name;
}

/// <summary>
/// What a volume's I/O goes to: the mutable top and the frozen stack below. A snapshot replaces the view; writers
/// register on the view they use so the snapshot can wait for in-flight writes before freezing the old top.
/// </summary>
internal sealed class View(Layer top, Layer? baseLayer)
{
    public readonly Layer Top = top;
    public readonly Layer? Base = baseLayer;
    public int Active;
    public int Retired;

    public MergedIndex? BaseIndex => Base?.Index;

    /// <summary>Stops new writers on this view and waits for the ones in flight (microseconds).</summary>
    public void RetireAndDrain()
    {
        Interlocked.Exchange(ref Retired, 1);
        var spin = new SpinWait();
        while (Volatile.Read(ref Active) != 0) spin.SpinOnce();
    }
}

using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine;

public sealed partial class EmbeddedEngine
{
    private const long Block = BlockMap.BlockSize;

    /// <summary>Per page, the union of the data and zero bits of <paramref name="layers"/>: blocks they hide.</summary>
    private static Dictionary<long, ulong[]> ShadowOf(List<Layer> layers)
    {
        var union = new Dictionary<long, ulong[]>();
        foreach (var l in layers)
            foreach (var (i, p) in l.Map.Pages())
            {
                if (!union.TryGetValue(i, out var words)) union[i] = words = new ulong[MapPage.Words];
                for (int w = 0; w < MapPage.Words; w++) words[w] |= Volatile.Read(ref p.Data[w]) | Volatile.Read(ref p.Zero[w]);
            }
        return union;
    }

    /// <summary>Frees the blocks of a hidden layer that the layers above hide: nobody can read them any more.</summary>
    private static void FreeShadowed(Layer layer, Dictionary<long, ulong[]> shadow)
    {
        try
        {
            var map = layer.Map;
            foreach (var (i, page) in map.Pages())
            {
                if (!shadow.TryGetValue(i, out var sh)) continue;
                for (int w = 0; w < MapPage.Words; w++)
                {
                    ulong mask = page.Data[w] & sh[w];
                    if (mask == 0) continue;
                    map.ClearData(page, w, mask);
                    long wordStart = (i << MapPage.Shift) + ((long)w << 6);
                    while (mask != 0)
                    {
                        int lo = BitOperations.TrailingZeroCount(mask);
                        int len = BitOperations.TrailingZeroCount(~(mask >> lo));
                        if (lo + len > 64) len = 64 - lo;
                        layer.Punch((wordStart + lo) * Block, len * Block);
                        mask = len == 64 ? 0 : mask & ~(((1UL << len) - 1) << lo);
                    }
                }
            }
            layer.Flush();
        }
        catch (ObjectDisposedException)
        {
            // The volume was destroyed meanwhile: its files are gone anyway.
        }
    }

    private static long Count(Dictionary<long, ulong[]> shadow, BlockMap map)
    {
        long n = 0;
        foreach (var (i, page) in map.Pages())
        {
            if (!shadow.TryGetValue(i, out var sh)) continue;
            for (int w = 0; w < MapPage.Words; w++) n += BitOperations.PopCount(page.Data[w] & sh[w]);
        }
        return n;
    }

    /// <summary>Stored blocks readable through a volume: its top's data plus what the stack below holds and the top does not hide.</summary>
    private static long ReferencedBlocks(Layer top)
    {
        var tm = top.Map;
        long n = tm.DataBlocks();
        var idx = top.Parent?.Index;
        if (idx is null) return n;
        n += idx.StoredBlocks;
        foreach (var (i, page) in tm.Pages())
        {
            var ip = idx.Page(i);
            if (ip is null) continue;
            for (int w = 0; w < MapPage.Words; w++)
            {
                ulong m = page.Data[w] | page.Zero[w];
                while (m != 0)
                {
                    int bit = BitOperations.TrailingZeroCount(m);
                    if (ip[(w << 6) + bit] != 0) n--;
                    m &= m - 1;
                }
            }
        }
        return n;
    }

    private static long UsedBlocks(Dataset ds)
    {
        long n = 0;
        foreach (var l in ds.Layers) n += l.DataBlocks();
        return n;
    }

    private DatasetInfo InfoOf(Dataset ds)
    {
        lock (_lock)
        {
            if (ds.Kind == DatasetKind.Folder)
            {
                long used = 0;
                foreach (var d in Subtree(ds.Name)) if (d.Kind == DatasetKind.Volume) used += UsedBlocks(d);
                return new DatasetInfo(ds.Name, ds.Id, ds.Kind, 0, null, used * Block, 0, ds.Created);
            }
            return new DatasetInfo(ds.Name, ds.Id, ds.Kind, Volatile.Read(ref ds.Size), ds.Origin?.FullName,
                UsedBlocks(ds) * Block, ReferencedBlocks(ds.Top!) * Block, ds.Created);
        }
    }

    private DatasetInfo PoolInfoOf(string pool)
    {
        long used = 0;
        foreach (var d in Subtree(pool)) if (d.Kind == DatasetKind.Volume) used += UsedBlocks(d);
        var id = new Guid(SHA256.HashData(Encoding.UTF8.GetBytes("cairn-pool:" + pool)).AsSpan(0, 16));
        return new DatasetInfo(pool, id, DatasetKind.Folder, 0, null, used * Block, 0, DateTimeOffset.UnixEpoch);
    }

    private SnapshotInfo InfoOf(Snapshot s)
    {
        lock (_lock)
        {
            var above = new List<Layer>();
            for (var c = s.Layer.OwnChild; c is not null; c = c.OwnChild)
            {
                above.Add(c);
                if (!c.Hidden) break;
            }
            long used = Count(ShadowOf(above), s.Layer.Map);
            return new SnapshotInfo(s.Dataset.Name, s.Name, s.Id, s.Size, used * Block, s.Layer.Index.StoredBlocks * Block,
                s.Clones.Select(c => c.Name).Order(StringComparer.Ordinal).ToList(), s.Created);
        }
    }

    /// <inheritdoc/>
    public DatasetInfo? Get(string name)
    {
        Names.ValidateDataset(name);
        lock (_lock)
        {
            ThrowIfDisposed();
            if (_byName.TryGetValue(name, out var ds)) return InfoOf(ds);
            return IsPool(name) ? PoolInfoOf(name) : null;
        }
    }

    /// <inheritdoc/>
    public SnapshotInfo? GetSnapshot(string dataset, string snapshot)
    {
        Names.ValidateSnapshot(dataset + "@" + snapshot);
        lock (_lock)
        {
            ThrowIfDisposed();
            if (!_byName.TryGetValue(dataset, out var ds)) return null;
            var s = ds.Snapshots.Find(x => x.Name == snapshot);
            return s is null ? null : InfoOf(s);
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<DatasetInfo> List(string? root = null)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            var result = new List<DatasetInfo>();
            if (root is null)
            {
                var pools = new SortedSet<string>(StringComparer.Ordinal);
                foreach (var n in _byName.Keys) pools.Add(n[..n.IndexOf('/', StringComparison.Ordinal)]);
                foreach (var p in pools) result.Add(PoolInfoOf(p));
                foreach (var ds in _byName.Values) result.Add(InfoOf(ds));
            }
            else
            {
                Names.ValidateDataset(root);
                if (_byName.TryGetValue(root, out var r)) result.Add(InfoOf(r));
                else if (IsPool(root)) result.Add(PoolInfoOf(root));
                else throw CairnException.NotFound($"{root} does not exist");
                foreach (var ds in Subtree(root)) result.Add(InfoOf(ds));
            }
            result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            return result;
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<SnapshotInfo> ListSnapshots(string? dataset = null)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            var result = new List<SnapshotInfo>();
            if (dataset is null)
            {
                foreach (var ds in _byName.Values.OrderBy(d => d.Name, StringComparer.Ordinal))
                    foreach (var s in ds.Snapshots) result.Add(InfoOf(s));
            }
            else
            {
                foreach (var s in FindVolume(dataset).Snapshots) result.Add(InfoOf(s));
            }
            return result;
        }
    }

    /// <inheritdoc/>
    public PoolInfo GetPoolInfo()
    {
        var (size, free) = Native.FileSystemSpace(_dir);
        lock (_lock)
        {
            ThrowIfDisposed();
            long allocated = 0, snapshots = 0, volumes = 0;
            foreach (var l in _layers.Values) allocated += l.DataBlocks();
            foreach (var ds in _byName.Values)
            {
                snapshots += ds.Snapshots.Count;
                if (ds.Kind == DatasetKind.Volume) volumes++;
            }
            return new PoolInfo(size, allocated * Block, free, _byName.Count, snapshots, volumes, _byName.Count - volumes);
        }
    }

    /// <summary>Space figures of one pool (the top-level name): capacity and free space are the filesystem's, shared by every pool here.</summary>
    public PoolInfo GetPoolInfo(string pool)
    {
        Names.ValidateDataset(pool);
        var (size, free) = Native.FileSystemSpace(_dir);
        lock (_lock)
        {
            ThrowIfDisposed();
            long allocated = 0, datasets = 0, snapshots = 0, volumes = 0;
            foreach (var ds in Subtree(pool))
            {
                datasets++;
                snapshots += ds.Snapshots.Count;
                if (ds.Kind != DatasetKind.Volume) continue;
                volumes++;
                allocated += UsedBlocks(ds);
            }
            // A listing of the pool always shows its root as a folder row (List makes one up when it is no dataset):
            // counted as a folder the same way.
            if (_byName.TryGetValue(pool, out var top)) snapshots += top.Snapshots.Count;
            return new PoolInfo(size, allocated * Block, free, datasets, snapshots, volumes, datasets - volumes + 1);
        }
    }

    /// <summary>Top-level names that hold datasets: the implicit pools of a data directory made before pools were explicit.</summary>
    public IReadOnlyList<string> ListPools()
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            var pools = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var n in _byName.Keys) pools.Add(n[..n.IndexOf('/', StringComparison.Ordinal)]);
            return [.. pools];
        }
    }

    /// <inheritdoc/>
    public IBlockDevice Open(string name)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            return new VolumeDevice(this, FindVolume(name));
        }
    }

    /// <inheritdoc/>
    public IBlockDevice OpenSnapshot(string dataset, string snapshot)
    {
        lock (_lock)
        {
            ThrowIfDisposed();
            return new SnapshotDevice(FindSnapshot(dataset, snapshot));
        }
    }
}

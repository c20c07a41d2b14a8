using System.Diagnostics;
using Cairn.Core;
using Cairn.Core.Processes;
using Cairn.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Cairn.Engine.Zfs;

/// <summary>
/// A volume engine over ZFS, driven through the <c>zfs</c> and <c>zpool</c> commands. One instance serves any number of
/// zpools. On zfs-fuse (no zvols) a volume is a filesystem dataset holding one sparse image file,
/// <see cref="ImageFileName"/>; on kernel ZFS it is a zvol (that mode is written to zfs(8) but untested here).
/// <para>
/// Everything Cairn creates carries <c>cairn:managed=KIND:FULLNAME</c>, set with <c>-o</c> in the creating command
/// (the name it was created with: a rename or promote leaves the mark as it was);
/// datasets and snapshots without their own mark are listed with <c>Managed=false</c> and never destroyed.
/// An in-memory inventory (read whole with one <c>zfs get -r</c> at attach, on <see cref="RefreshAsync"/> and after
/// any unexpected failure; updated by every successful command) answers every look-up without running a command.
/// </para>
/// </summary>
public sealed partial class ZfsEngine : IVolumeEngine
{
    /// <summary>The image file of a volume in file mode, at the root of its dataset.</summary>
    public const string ImageFileName = "volume.img";

    private readonly ZfsEngineOptions _options;
    private readonly ZfsCli _cli;
    private readonly ILogger? _log;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, PoolState> _pools = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ZDataset> _datasets = new(StringComparer.Ordinal);
    // snapshot full name → clones (hidden snapshot views excluded); views separately, by the snapshot they show.
    private readonly Dictionary<string, SortedSet<string>> _clones = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ZDataset> _views = new(StringComparer.Ordinal);
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2213", Justification = "A SemaphoreSlim whose wait handle is never asked for holds nothing to free; disposing it would fail an attach still in flight.")]
    private readonly SemaphoreSlim _attach = new(1, 1);
    private bool _disposed;

    /// <summary>Creates an engine; pools are attached with <see cref="AttachPoolAsync"/> (or on first use).</summary>
    public ZfsEngine(ZfsEngineOptions? options = null, IProcessRunner? runner = null, ILogger<ZfsEngine>? log = null)
    {
        _options = options ?? new ZfsEngineOptions();
        _log = log;
        _cli = new ZfsCli(runner ?? ProcessRunner.Default, _options, log);
    }

    /// <inheritdoc/>
    public string Kind => "zfs";

    /// <inheritdoc/>
    public EngineCapabilities Capabilities => EngineCapabilities.Folders | EngineCapabilities.Properties | EngineCapabilities.BackingPaths;

    /// <summary>zfs/zpool commands run so far (what a batch cost, for benchmarks and tests).</summary>
    public long CommandsRun => _cli.Commands;

    /// <inheritdoc/>
    public async ValueTask<PoolInfo> AttachPoolAsync(string pool, CancellationToken ct = default)
    {
        CheckPoolName(pool);
        await EnsurePoolAsync(pool, force: false, ct);
        return await GetPoolInfoAsync(pool, ct);
    }

    private static void CheckPoolName(string pool)
    {
        Names.ValidateDataset(pool);
        if (pool.Contains('/')) throw CairnException.Invalid($"'{pool}' is not a pool name (it contains '/')");
    }

    /// <summary>Attaches <paramref name="pool"/> unless it is attached already (<paramref name="force"/>: re-read it anyway).</summary>
    private async Task EnsurePoolAsync(string pool, bool force, CancellationToken ct)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!force && _pools.ContainsKey(pool)) return;
        }
        await _attach.WaitAsync(ct);
        try
        {
            bool known;
            lock (_lock) known = _pools.ContainsKey(pool);
            if (known && !force) return;
            if (!known)
            {
                // zpool(8) list -H: scripted; zfs-fuse's zpool has no -p, so only the name and health are read here.
                var r = await _cli.Zpool(["list", "-H", "-o", "name,health", pool], ct);
                if (!r.Succeeded)
                {
                    if (r.StdErr.Contains("no such pool", StringComparison.OrdinalIgnoreCase))
                        throw CairnException.NotFound($"zfs pool {pool} does not exist");
                    throw ZfsCli.Map(r, $"zpool list {pool}");
                }
                var health = r.StdOut.Split('\t', '\n')[1].Trim();
                if (health != "ONLINE") throw new CairnException(ErrorKind.Conflict, $"zfs pool {pool} is {health}, not ONLINE");
            }
            await RefreshPoolAsync(pool, ct);
        }
        finally { _attach.Release(); }
    }

    /// <summary>Pool of a dataset name (its first component), attached on first use.</summary>
    private async ValueTask<PoolState> PoolOf(string name, CancellationToken ct)
    {
        var pool = name.Split('/', '@')[0];
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_pools.TryGetValue(pool, out var p)) return p;
        }
        await EnsurePoolAsync(pool, force: false, ct);
        lock (_lock) return _pools[pool];
    }

    /// <inheritdoc/>
    public async ValueTask<IReadOnlyList<string>> ListPoolsAsync(CancellationToken ct = default)
    {
        var r = await _cli.Zpool(["list", "-H", "-o", "name"], ct);
        if (!r.Succeeded) throw ZfsCli.Map(r, "zpool list");
        return r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(n => n != "no pools available").Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Re-reads every attached pool from ZFS (one <c>zfs get -r</c> each): datasets and snapshots made or destroyed
    /// outside Cairn appear or vanish. Reconcile calls it through <see cref="ListAsync"/> without a root.
    /// </summary>
    public async Task RefreshAsync(CancellationToken ct = default)
    {
        string[] pools;
        lock (_lock) pools = [.. _pools.Keys];
        foreach (var p in pools) await EnsurePoolAsync(p, force: true, ct);
    }

    /// <summary>Reads one pool whole and replaces what the inventory knew of it.</summary>
    private async Task RefreshPoolAsync(string pool, CancellationToken ct, Func<string, string>? renamed = null)
    {
        var sw = Stopwatch.StartNew();
        long generation;
        lock (_lock) generation = _pools.TryGetValue(pool, out var known) ? known.Generation : 0;
        // Two reads side by side: the figures by name (zfs-fuse's "all" leaves out guid and origin), and every property
        // set locally, the only way to get the caller's cairn.prop:* properties without knowing their names.
        var figures = _cli.Zfs(["get", "-H", "-p", "-r", "-o", "name,property,value,source", FigureProps + "," + ZfsProps.Managed + "," + ZfsProps.VolSize, pool], ct, bigOutput: true);
        var locals = _cli.Zfs(["get", "-H", "-p", "-r", "-s", "local", "-o", "name,property,value,source", "all", pool], ct, bigOutput: true);
        var r = await figures;
        var l = await locals;
        if (!r.Succeeded) throw ZfsCli.Map(r, $"zfs get -r {pool}");
        if (!l.Succeeded) throw ZfsCli.Map(l, $"zfs get -r -s local {pool}");
        var rows = ZfsParser.Parse(r.StdOut);
        var local = ZfsParser.Parse(l.StdOut).ToDictionary(x => x.Name, x => x.Props, StringComparer.Ordinal);
        foreach (var (name, props) in rows)
            if (local.TryGetValue(name, out var lp))
                foreach (var (k, v) in lp) props.TryAdd(k, v);

        var mode = DetectMode(pool);
        lock (_lock)
        {
            var state = new PoolState(pool, _pools.TryGetValue(pool, out var old) ? old.Mode : mode) { Generation = generation + 1 };
            var live = new Dictionary<string, SizeCell>(StringComparer.Ordinal);
            foreach (var d in DatasetsOf(pool).ToList())
            {
                if (d.Live is { } cell) live[renamed?.Invoke(d.Name) ?? d.Name] = cell;
                RemoveFromIndex(d);
            }
            int snapshots = 0, datasets = 0;
            foreach (var (name, props) in rows)
            {
                var at = name.IndexOf('@');
                if (at >= 0)
                {
                    if (!_datasets.TryGetValue(name[..at], out var owner)) continue;
                    var s = new ZSnapshot(owner, name[(at + 1)..]);
                    ZfsParser.Apply(s, props, allProperties: true);
                    owner.Snapshots.Add(s);
                    snapshots++;
                    continue;
                }
                var d = new ZDataset(name);
                ZfsParser.Apply(d, props, allProperties: true);
                if (live.TryGetValue(name, out var cell))
                {
                    cell.Value = Math.Max(cell.Value, d.VolSize);
                    d.Live = cell;
                }
                AddToIndex(d);
                datasets++;
            }
            _pools[pool] = state;
            if (_log is not null)
            {
                if (old is null) Log.Attached(_log, pool, state.Mode.ToString(), datasets - 1, snapshots);
                else Log.Refreshed(_log, pool, datasets - 1, snapshots, sw.Elapsed.TotalMilliseconds);
            }
        }
    }

    /// <summary>
    /// File mode when the pool's root is a FUSE mount (zfs-fuse: zvols answer "Function not implemented"), zvol mode
    /// when the kernel's /dev/zvol exists, file mode otherwise.
    /// </summary>
    private static VolumeMode DetectMode(string pool)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/mounts"))
            {
                var f = line.Split(' ');
                if (f.Length > 2 && (f[0] == pool || f[0].StartsWith(pool + "/", StringComparison.Ordinal)))
                    return f[2].StartsWith("fuse", StringComparison.Ordinal) ? VolumeMode.File : VolumeMode.Zvol;
            }
        }
        catch (IOException) { }
        return Directory.Exists("/dev/zvol") ? VolumeMode.Zvol : VolumeMode.File;
    }

    private IEnumerable<ZDataset> DatasetsOf(string pool)
    {
        if (!_datasets.TryGetValue(pool, out var root)) yield break;
        var stack = new Stack<ZDataset>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var d = stack.Pop();
            yield return d;
            foreach (var c in d.Children)
                if (_datasets.TryGetValue(c, out var child)) stack.Push(child);
        }
    }

    /// <summary>Adds a dataset to the inventory and its indexes (caller holds the lock).</summary>
    private void AddToIndex(ZDataset d)
    {
        _datasets[d.Name] = d;
        if (Names.Parent(d.Name) is { } parent && _datasets.TryGetValue(parent, out var p)) p.Children.Add(d.Name);
        if (d.Origin is { } origin)
        {
            if (d.Hidden) _views[origin] = d;
            else
            {
                if (!_clones.TryGetValue(origin, out var set)) _clones[origin] = set = new(StringComparer.Ordinal);
                set.Add(d.Name);
            }
        }
    }

    /// <summary>Removes a dataset and its snapshots from the inventory (caller holds the lock).</summary>
    private void RemoveFromIndex(ZDataset d)
    {
        _datasets.Remove(d.Name);
        if (Names.Parent(d.Name) is { } parent && _datasets.TryGetValue(parent, out var p)) p.Children.Remove(d.Name);
        if (d.Origin is { } origin)
        {
            if (d.Hidden) { if (_views.TryGetValue(origin, out var v) && v == d) _views.Remove(origin); }
            else if (_clones.TryGetValue(origin, out var set) && set.Remove(d.Name) && set.Count == 0) _clones.Remove(origin);
        }
    }

    private IReadOnlyList<string> ClonesOf(string snapshotFullName) =>
        _clones.TryGetValue(snapshotFullName, out var set) ? [.. set] : [];

    /// <inheritdoc/>
    public async ValueTask<DatasetInfo?> GetAsync(string name, CancellationToken ct = default)
    {
        Names.ValidateDataset(name);
        await PoolOf(name, ct);
        ZDataset? d;
        lock (_lock) d = _datasets.TryGetValue(name, out var found) && found.Complete && !found.Hidden ? found : null;
        if (d is null) return null;
        // Writes through a device change used/referenced behind the inventory's back (ZFS counts them at its next
        // transaction group): a volume written in the last minutes has its figures read again.
        if (Environment.TickCount64 - Volatile.Read(ref d.LastWrite) < RecentWriteMs) await FetchAsync([name], ct);
        lock (_lock) return _datasets.ContainsKey(name) ? d.ToInfo() : null;
    }

    private const long RecentWriteMs = 120_000;

    /// <summary>The read-only figures and mount state of a dataset or snapshot (zfs(8) native properties).</summary>
    internal const string FigureProps = "type,guid,used,referenced,creation,origin,mountpoint,mounted,volsize";

    /// <summary>The properties the engine reads after a change (for the benchmark's command-cost figures).</summary>
    public static string FigurePropsForBench => FigureProps;

    /// <inheritdoc/>
    public async ValueTask<SnapshotInfo?> GetSnapshotAsync(string dataset, string snapshot, CancellationToken ct = default)
    {
        Names.ValidateSnapshot(dataset + "@" + snapshot);
        await PoolOf(dataset, ct);
        lock (_lock)
        {
            if (!_datasets.TryGetValue(dataset, out var d)) return null;
            var s = d.Snapshots.Find(x => x.Name == snapshot);
            return s is { Complete: true } ? s.ToInfo(ClonesOf(s.FullName)) : null;
        }
    }

    /// <inheritdoc/>
    /// <remarks>Without a root (what reconcile asks) every attached pool is re-read first, so that changes made
    /// outside Cairn show; with a root the answer comes from the inventory.</remarks>
    public async ValueTask<IReadOnlyList<DatasetInfo>> ListAsync(string? root = null, CancellationToken ct = default)
    {
        if (root is null) await RefreshAsync(ct);
        else
        {
            Names.ValidateDataset(root);
            await PoolOf(root, ct);
        }
        lock (_lock)
        {
            var result = new List<DatasetInfo>();
            if (root is null)
            {
                foreach (var p in _pools.Keys)
                    foreach (var d in DatasetsOf(p))
                        if (d.Complete && !d.Hidden) result.Add(d.ToInfo());
            }
            else
            {
                if (!_datasets.TryGetValue(root, out var r) || r.Hidden) throw CairnException.NotFound($"{root} does not exist");
                foreach (var d in DatasetsOf(r))
                    if (d.Complete && !d.Hidden) result.Add(d.ToInfo());
            }
            result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            return result;
        }
    }

    private IEnumerable<ZDataset> DatasetsOf(ZDataset root)
    {
        var stack = new Stack<ZDataset>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var d = stack.Pop();
            yield return d;
            foreach (var c in d.Children)
                if (_datasets.TryGetValue(c, out var child)) stack.Push(child);
        }
    }

    /// <inheritdoc/>
    public async ValueTask<IReadOnlyList<SnapshotInfo>> ListSnapshotsAsync(string? dataset = null, CancellationToken ct = default)
    {
        if (dataset is not null)
        {
            Names.ValidateDataset(dataset);
            await PoolOf(dataset, ct);
        }
        lock (_lock)
        {
            var result = new List<SnapshotInfo>();
            if (dataset is null)
            {
                foreach (var d in _datasets.Values.Where(d => !d.Hidden).OrderBy(d => d.Name, StringComparer.Ordinal))
                    foreach (var s in d.Snapshots)
                        if (s.Complete) result.Add(s.ToInfo(ClonesOf(s.FullName)));
            }
            else
            {
                if (!_datasets.TryGetValue(dataset, out var d) || d.Hidden) throw CairnException.NotFound($"{dataset} does not exist");
                foreach (var s in d.Snapshots)
                    if (s.Complete) result.Add(s.ToInfo(ClonesOf(s.FullName)));
            }
            return result;
        }
    }

    /// <inheritdoc/>
    public async ValueTask<PoolInfo> GetPoolInfoAsync(string pool, CancellationToken ct = default)
    {
        CheckPoolName(pool);
        await PoolOf(pool, ct);
        // zfs(8) get -p: exact bytes. The root's used + available is the pool's usable size (zpool list would include
        // parity and reserved space, and zfs-fuse's zpool prints rounded figures only).
        var r = await _cli.Zfs(["get", "-H", "-p", "-o", "property,value", "used,available", pool], ct);
        if (!r.Succeeded) throw ZfsCli.Map(r, $"zfs get {pool}");
        long used = 0, avail = 0;
        foreach (var line in r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('\t');
            if (f.Length < 2) continue;
            var v = long.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture);
            if (f[0] == "used") used = v; else if (f[0] == "available") avail = v;
        }
        lock (_lock)
        {
            long datasets = 0, snapshots = 0, volumes = 0, rows = 0;
            foreach (var d in DatasetsOf(pool))
            {
                if (d.Hidden) continue;
                rows++;
                if (!d.IsPoolRoot) datasets++;
                if (d.IsVolume) volumes++;
                snapshots += d.Snapshots.Count;
            }
            return new PoolInfo(used + avail, used, avail, datasets, snapshots, volumes, rows - volumes);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
        }
        _cli.Dispose();
    }
}

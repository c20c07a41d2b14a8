using Microsoft.Win32.SafeHandles;

namespace Cairn.Engine;

/// <summary>
/// One layer of a volume's stack: a sparse data file holding blocks at their volume offset, plus a 4 KiB map persisted
/// in an append-only log. The top layer of a volume is mutable; snapshot layers are frozen.
/// </summary>
internal sealed class Layer
{
    public readonly long Id;
    public readonly Layer? Parent;
    /// <summary>Key of the dataset that owns this layer; a promote hands the origin's layers to the clone (under the engine lock).</summary>
    public long Owner;
    public readonly int Depth;

    /// <summary>Its snapshot was destroyed; it stays in the chain for the layers above.</summary>
    public bool Hidden;

    /// <summary>The next layer of the owner's own chain (set when this layer is frozen by a snapshot).</summary>
    public Layer? OwnChild;

    /// <summary>False while a snapshot that froze this layer has not yet made it durable.</summary>
    public volatile bool Sealed = true;

    /// <summary>False between the snapshot that froze this layer and the end of the writes in flight on it.</summary>
    public volatile bool Frozen = true;

    private readonly string _dir;
    private readonly bool _durable;
    private volatile BlockMap? _map;
    private volatile SafeFileHandle? _data;
    private SafeFileHandle? _log;
    private long _logLength;
    private volatile MergedIndex? _index;
    private readonly Lock _sync = new();
    private readonly Lock _flush = new();
    private int _dataDirty;
    private readonly bool _fresh; // created in this process: no files to look for
    private bool _dataDirSync;
    private bool _logUnsynced; // records written by Flush(sync: false) and not yet synced
    private bool _logDirSync;  // the log file was created and its directory entry not yet synced
    private bool _closed;

    public Layer(long id, Layer? parent, long owner, string dir, bool durable, bool isNew)
    {
        Id = id;
        Parent = parent;
        Owner = owner;
        Depth = (parent?.Depth ?? 0) + 1;
        _dir = dir;
        _durable = durable;
        _fresh = isNew;
    }

    public string DataPath => Path.Combine(_dir, FileName(Id, ".data"));
    public string MapPath => Path.Combine(_dir, FileName(Id, ".map"));
    public static string FileName(long id, string ext) => "L" + id.ToString(System.Globalization.CultureInfo.InvariantCulture) + ext;

    /// <summary>The map, loaded from its log on first use.</summary>
    public BlockMap Map => _map ?? Load();

    /// <summary>Blocks holding data. A layer made in this process and never written has none, and counting them must not
    /// load its map: a new clone is reported (its used size) right after it is made.</summary>
    public long DataBlocks() => _map is { } m ? m.DataBlocks() : _fresh ? 0 : Map.DataBlocks();

    /// <summary>Merged index of this (frozen) layer's whole stack, built once and shared by every clone over it.</summary>
    public MergedIndex Index => _index ?? BuildIndex();

    private MergedIndex BuildIndex()
    {
        // The index is a copy of the maps: it may only be taken once no write can change this layer any more.
        var spin = new SpinWait();
        while (!Frozen) spin.SpinOnce();
        lock (_sync)
        {
            return _index ??= MergedIndex.Build(this);
        }
    }

    private BlockMap Load()
    {
        lock (_sync)
        {
            if (_map is not null) return _map;
            var map = new BlockMap();
            if (!_fresh && File.Exists(MapPath))
            {
                var log = File.OpenHandle(MapPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
                long good = MapLog.Load(log, map);
                if (good < RandomAccess.GetLength(log)) RandomAccess.SetLength(log, good); // torn tail of a crash
                _log = log;
                _logLength = good;
            }
            if (!_fresh && File.Exists(DataPath))
                _data = File.OpenHandle(DataPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            _map = map;
            return map;
        }
    }

    private SafeFileHandle DataFile()
    {
        var h = _data;
        if (h is not null) return h;
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (_data is null)
            {
                _data = File.OpenHandle(DataPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
                _dataDirSync = true;
            }
            return _data;
        }
    }

    public bool HasDataFile => _data is not null;

    public void ReadAt(long offset, Span<byte> dst)
    {
        var h = _data;
        if (h is null) { dst.Clear(); return; }
        int total = 0;
        while (total < dst.Length)
        {
            int n = RandomAccess.Read(h, dst[total..], offset + total);
            if (n <= 0) { dst[total..].Clear(); break; } // past the end of a sparse file: zeros
            total += n;
        }
    }

    /// <summary>
    /// Largest single pwrite. Copying a big buffer into the page cache in one call runs out of the CPU caches: on the
    /// reference VM 512 MiB took 1.18 s as 1 MiB pwrites and 0.16 s as 128 KiB ones (cp uses 128 KiB too).
    /// </summary>
    private const int MaxWrite = 128 * 1024;

    public void WriteAt(long offset, ReadOnlySpan<byte> src)
    {
        var h = DataFile();
        while (src.Length > MaxWrite)
        {
            RandomAccess.Write(h, src[..MaxWrite], offset);
            src = src[MaxWrite..];
            offset += MaxWrite;
        }
        RandomAccess.Write(h, src, offset);
        // Set after the write and before the map bit: a flush that sees the bit also sees this flag (or an earlier
        // flush already synced the data).
        Volatile.Write(ref _dataDirty, 1);
    }

    public void Punch(long offset, long length)
    {
        var h = _data;
        if (h is null) return;
        Native.PunchHole(h, offset, length);
        Volatile.Write(ref _dataDirty, 1);
    }

    /// <summary>
    /// Makes every write and map change made before the call durable: fdatasync the data, then append the changed
    /// map pages to the log and sync it. Data first, so a durable map bit never points at unsynced data.
    /// </summary>
    public void Flush() => Flush(sync: true);

    /// <summary>
    /// With <paramref name="sync"/> false, only hands the changed map pages to the operating system (a write to the
    /// log, no fsync): they survive a crash of this process, since the page cache does, but not of the machine. A
    /// later <c>Flush()</c> makes them and the data durable.
    /// </summary>
    public void Flush(bool sync)
    {
        var map = _map;
        if (map is null) return; // never loaded: nothing changed since open
        lock (_flush)
        {
            if (_closed) return;
            bool durable = _durable && sync;
            List<(long Index, ulong[] State)>? records = null;
            while (map.TryTakeDirty(out var page))
            {
                Interlocked.Exchange(ref page.Dirty, 0);
                (records ??= []).Add((page.Index, Copy(page)));
            }
            bool compact = sync && records is not null && _logLength > (1 << 20) &&
                           _logLength > 4L * MapLog.RecordSize * CountPages(map);
            if (compact)
            {
                records = [];
                foreach (var (i, p) in map.Pages()) records.Add((i, Copy(p)));
            }

            // Copies are taken before the data sync: every bit in them was set after its data write returned.
            if (durable)
            {
                if (Interlocked.Exchange(ref _dataDirty, 0) == 1 && _data is { } data) Native.DataSync(data);
                if (_dataDirSync) Native.SyncDirectory(_dir);
                _dataDirSync = false;
            }
            else if (!_durable)
            {
                _dataDirty = 0;
                _dataDirSync = false;
            }
            if (records is null)
            {
                // Records an earlier unsynced flush wrote: make them durable now that their data is.
                if (durable && _logUnsynced && _log is { } log)
                {
                    Native.DataSync(log);
                    if (_logDirSync) Native.SyncDirectory(_dir);
                    _logUnsynced = _logDirSync = false;
                }
                return;
            }

            var buf = new byte[records.Count * MapLog.RecordSize];
            for (int i = 0; i < records.Count; i++)
                MapLog.Encode(records[i].Index, records[i].State, buf.AsSpan(i * MapLog.RecordSize, MapLog.RecordSize));

            if (compact) Rewrite(buf);
            else Append(buf, durable);
        }
    }

    private static ulong[] Copy(MapPage p)
    {
        var s = new ulong[MapPage.Words * 2];
        p.Data.CopyTo(s, 0);
        p.Zero.CopyTo(s, MapPage.Words);
        return s;
    }

    private static long CountPages(BlockMap map)
    {
        long n = 0;
        foreach (var _ in map.Pages()) n++;
        return n;
    }

    private void Append(byte[] buf, bool durable)
    {
        if (_log is null)
        {
            _log = File.OpenHandle(MapPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
            _logLength = RandomAccess.GetLength(_log);
            _logDirSync = _durable;
        }
        RandomAccess.Write(_log, buf, _logLength);
        _logLength += buf.Length;
        if (durable)
        {
            Native.DataSync(_log);
            if (_logDirSync) Native.SyncDirectory(_dir);
            _logUnsynced = _logDirSync = false;
        }
        else if (_durable) _logUnsynced = true;
    }

    private void Rewrite(byte[] buf)
    {
        var tmp = MapPath + ".tmp";
        using (var h = File.OpenHandle(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            RandomAccess.Write(h, buf, 0);
            if (_durable) Native.DataSync(h);
        }
        _log?.Dispose();
        File.Move(tmp, MapPath, overwrite: true);
        if (_durable) Native.SyncDirectory(_dir);
        _log = File.OpenHandle(MapPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        _logLength = buf.Length;
        _logUnsynced = _logDirSync = false;
    }

    /// <summary>Closes the files (engine shutdown or layer destruction).</summary>
    public void Close()
    {
        lock (_flush)
        {
            lock (_sync)
            {
                _closed = true;
                _data?.Dispose();
                _log?.Dispose();
            }
        }
    }

    public void DeleteFiles()
    {
        Close();
        File.Delete(DataPath);
        File.Delete(MapPath);
    }
}

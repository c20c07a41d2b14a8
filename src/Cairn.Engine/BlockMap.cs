using System.Collections.Concurrent;
using System.Numerics;

namespace Cairn.Engine;

/// <summary>A growable two-level array of lazily allocated pages: a 1 TiB volume never allocates its map densely.</summary>
internal sealed class PagedArray<T> where T : class
{
    private const int L2Shift = 9;
    private const int L2Size = 1 << L2Shift;
    private T?[]?[] _l1 = [];
    private readonly Lock _grow = new();

    public T? Get(long page)
    {
        var l1 = Volatile.Read(ref _l1);
        long i = page >> L2Shift;
        if ((ulong)i >= (ulong)l1.Length) return null;
        var l2 = l1[i];
        return l2?[page & (L2Size - 1)];
    }

    public T GetOrAdd(long page, Func<long, T> create)
    {
        var p = Get(page);
        if (p is not null) return p;
        lock (_grow)
        {
            p = Get(page);
            if (p is not null) return p;
            long i = page >> L2Shift;
            var l1 = _l1;
            if (i >= l1.Length)
            {
                var bigger = new T?[]?[Math.Max(i + 1, l1.Length * 2)];
                Array.Copy(l1, bigger, l1.Length);
                Volatile.Write(ref _l1, bigger);
                l1 = bigger;
            }
            var l2 = l1[i];
            if (l2 is null)
            {
                l2 = new T?[L2Size];
                Volatile.Write(ref l1[i], l2);
            }
            p = create(page);
            Volatile.Write(ref l2[page & (L2Size - 1)], p);
            return p;
        }
    }

    /// <summary>Stores or replaces a page (used while building immutable indexes, before publication).</summary>
    public void Put(long page, T value)
    {
        GetOrAdd(page, _ => value);
        var l2 = _l1[page >> L2Shift]!;
        l2[page & (L2Size - 1)] = value;
    }

    /// <summary>Every allocated page with its index, in order.</summary>
    public IEnumerable<(long Index, T Page)> All()
    {
        var l1 = Volatile.Read(ref _l1);
        for (int i = 0; i < l1.Length; i++)
        {
            var l2 = l1[i];
            if (l2 is null) continue;
            for (int j = 0; j < l2.Length; j++)
            {
                var p = Volatile.Read(ref l2[j]);
                if (p is not null) yield return (((long)i << L2Shift) + j, p);
            }
        }
    }

    /// <summary>Copies the page table (not the pages) so a derived index can share unchanged pages.</summary>
    public PagedArray<T> ShallowCopy()
    {
        var copy = new PagedArray<T>();
        var l1 = Volatile.Read(ref _l1);
        var n = new T?[]?[l1.Length];
        for (int i = 0; i < l1.Length; i++) n[i] = l1[i] is { } l2 ? (T?[])l2.Clone() : null;
        copy._l1 = n;
        return copy;
    }
}

/// <summary>
/// The map of one 16 MiB stretch of a layer: per 4 KiB block a data bit (stored in this layer's file) and a zero bit
/// (reads as zeros, hiding the layers below). Both clear: absent, fall through.
/// </summary>
internal sealed class MapPage(long index)
{
    public const int Shift = 12;
    public const int Blocks = 1 << Shift;
    public const int Words = Blocks / 64;
    public readonly long Index = index;
    public readonly ulong[] Data = new ulong[Words];
    public readonly ulong[] Zero = new ulong[Words];
    public int Dirty;
}

/// <summary>Allocation map of a layer at 4 KiB granularity, safe for concurrent readers and writers.</summary>
internal sealed class BlockMap
{
    public const int BlockShift = 12;
    public const int BlockSize = 1 << BlockShift;

    private readonly PagedArray<MapPage> _pages = new();

    // Pages changed since the last flush; made at the first change, as most layers of a pool full of clones never change.
    private ConcurrentQueue<MapPage>? _dirtyPages;

    /// <summary>Takes a page changed since the last flush.</summary>
    public bool TryTakeDirty([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MapPage? page)
    {
        page = null;
        return Volatile.Read(ref _dirtyPages) is { } q && q.TryDequeue(out page);
    }

    public MapPage? Page(long pageIndex) => _pages.Get(pageIndex);

    public IEnumerable<(long Index, MapPage Page)> Pages() => _pages.All();

    /// <summary>0 absent, 1 data, 2 zero.</summary>
    public int State(long block)
    {
        var p = _pages.Get(block >> MapPage.Shift);
        if (p is null) return 0;
        int w = (int)(block >> 6) & (MapPage.Words - 1);
        ulong bit = 1UL << (int)(block & 63);
        if ((Volatile.Read(ref p.Data[w]) & bit) != 0) return 1;
        if ((Volatile.Read(ref p.Zero[w]) & bit) != 0) return 2;
        return 0;
    }

    private MapPage Get(long pageIndex) => _pages.GetOrAdd(pageIndex, static i => new MapPage(i));

    public void SetData(long first, long count) => Apply(first, count, setData: true, setZero: false, create: true);
    public void SetZero(long first, long count) => Apply(first, count, setData: false, setZero: true, create: true);
    public void Clear(long first, long count) => Apply(first, count, setData: false, setZero: false, create: false);

    private void Apply(long first, long count, bool setData, bool setZero, bool create)
    {
        long b = first, end = first + count;
        while (b < end)
        {
            long pageIndex = b >> MapPage.Shift;
            long pageEnd = Math.Min(end, (pageIndex + 1) << MapPage.Shift);
            var page = create ? Get(pageIndex) : _pages.Get(pageIndex);
            if (page is not null)
            {
                long x = b;
                bool changed = false;
                while (x < pageEnd)
                {
                    int w = (int)(x >> 6) & (MapPage.Words - 1);
                    int lo = (int)(x & 63);
                    int n = (int)Math.Min(64 - lo, pageEnd - x);
                    ulong mask = n == 64 ? ulong.MaxValue : ((1UL << n) - 1) << lo;
                    changed |= Update(page, w, mask, setData, setZero);
                    x += n;
                }
                if (changed) MarkDirty(page);
            }
            b = pageEnd;
        }
    }

    // Order matters for lock-free readers: the new state's bit is set before the old one is cleared, and readers test
    // Data before Zero, so a reader sees either the old or the new content, never a hole.
    private static bool Update(MapPage page, int w, ulong mask, bool setData, bool setZero)
    {
        ulong d = Volatile.Read(ref page.Data[w]), z = Volatile.Read(ref page.Zero[w]);
        bool changed = false;
        if (setData)
        {
            if ((d & mask) != mask) { Interlocked.Or(ref page.Data[w], mask); changed = true; }
            if ((z & mask) != 0) { Interlocked.And(ref page.Zero[w], ~mask); changed = true; }
        }
        else if (setZero)
        {
            if ((z & mask) != mask) { Interlocked.Or(ref page.Zero[w], mask); changed = true; }
            if ((d & mask) != 0) { Interlocked.And(ref page.Data[w], ~mask); changed = true; }
        }
        else
        {
            if ((d & mask) != 0) { Interlocked.And(ref page.Data[w], ~mask); changed = true; }
            if ((z & mask) != 0) { Interlocked.And(ref page.Zero[w], ~mask); changed = true; }
        }
        return changed;
    }

    /// <summary>Clears data bits of one word (snapshot destruction frees shadowed blocks).</summary>
    public void ClearData(MapPage page, int w, ulong mask)
    {
        Interlocked.And(ref page.Data[w], ~mask);
        MarkDirty(page);
    }

    public void MarkDirty(MapPage page)
    {
        if (Volatile.Read(ref page.Dirty) == 0 && Interlocked.Exchange(ref page.Dirty, 1) == 0)
            (Volatile.Read(ref _dirtyPages) ?? LazyInitializer.EnsureInitialized(ref _dirtyPages)).Enqueue(page);
    }

    /// <summary>Replaces a page's state while loading from the log.</summary>
    public void Load(long pageIndex, ReadOnlySpan<ulong> data, ReadOnlySpan<ulong> zero)
    {
        var p = Get(pageIndex);
        data.CopyTo(p.Data);
        zero.CopyTo(p.Zero);
    }

    public long DataBlocks()
    {
        long n = 0;
        foreach (var (_, p) in _pages.All())
            foreach (var w in p.Data) n += BitOperations.PopCount(w);
        return n;
    }
}

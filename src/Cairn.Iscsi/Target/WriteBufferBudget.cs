using System.Buffers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cairn.Iscsi.Target;

/// <summary>
/// The data-out bytes every connection of a target together may hold for writes still waiting for their data
/// (<see cref="IscsiTargetOptions.MaxBufferedWriteBytes"/>), and the buffers that hold them. A write whose buffer does not
/// fit waits, without its R2Ts, until writes of any connection finish (first come, first served across connections);
/// only the unsolicited data the protocol lets an initiator send before any R2T is taken regardless. Large buffers come
/// from a pool of our own that is emptied once the target has been idle for a while, followed by one compacting GC that
/// returns the memory to the system: <see cref="ArrayPool{T}.Shared"/> would keep up to 32 arrays of each size per core
/// and never give them back while nothing else allocates.
/// </summary>
public sealed class WriteBufferBudget : IDisposable
{
    /// <summary>Buffers up to this size come from <see cref="ArrayPool{T}.Shared"/> (the 4 KiB..1 MiB hot path).</summary>
    public const int SmallBuffer = 1 << 20;
    private const int Buckets = 24 - 20 + 1; // 2 MiB .. 32 MiB (MaxCommandBuffer is at most 16 MiB − 1 rounded up)

    private readonly object _lock = new();
    private readonly Queue<IBudgetWaiter> _waiters = new();
    private readonly Stack<byte[]>[] _free = [.. Enumerable.Range(0, Buckets).Select(_ => new Stack<byte[]>())];
    private readonly ILogger _log;
    private readonly Timer? _trim;
    private readonly TimeSpan _idle;
    private long _granted, _taken, _peak, _freeBytes, _allocatedSinceCollect;
    private long _lastUse = Environment.TickCount64;

    /// <summary>A budget of <paramref name="limitBytes"/>; pooled buffers are dropped after <paramref name="idle"/> without writes (none: never).</summary>
    public WriteBufferBudget(long limitBytes, TimeSpan? idle = null, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limitBytes, 512);
        Limit = limitBytes;
        _log = logger ?? NullLogger.Instance;
        _idle = idle ?? TimeSpan.FromSeconds(2);
        if (idle != Timeout.InfiniteTimeSpan)
            _trim = new Timer(static s => ((WriteBufferBudget)s!).TrimIfIdle(), this, _idle, _idle);
    }

    /// <summary>The budget, in bytes.</summary>
    public long Limit { get; }

    /// <summary>
    /// Bytes held now by writes waiting for data: what was granted against <see cref="Limit"/>, plus the unsolicited
    /// data taken regardless (at most FirstBurstLength per command in a connection's command window).
    /// </summary>
    public long InUse => Interlocked.Read(ref _granted) + Interlocked.Read(ref _taken);

    /// <summary>The highest <see cref="InUse"/> since start.</summary>
    public long Peak => Interlocked.Read(ref _peak);

    /// <summary>Writes of other connections waiting for room.</summary>
    public int Waiting { get { lock (_lock) return _waiters.Count; } }

    /// <summary>Takes <paramref name="bytes"/> whatever the budget says (data the initiator may send unasked).</summary>
    /// <remarks>Not counted against <see cref="Limit"/> when granting: a write waiting for room holds its unsolicited data,
    /// and counting it could leave no room for any waiter while no granted write is left to finish.</remarks>
    internal void Take(long bytes)
    {
        Interlocked.Add(ref _taken, bytes);
        RaisePeak(InUse);
    }

    /// <summary>
    /// Takes <paramref name="bytes"/> if they fit and no earlier waiter is queued; otherwise queues
    /// <paramref name="waiter"/> (once) to be woken when room may have come, and returns false.
    /// </summary>
    internal bool TryTake(long bytes, IBudgetWaiter waiter)
    {
        IBudgetWaiter? next = null;
        lock (_lock)
        {
            bool first = _waiters.Count == 0 || ReferenceEquals(_waiters.Peek(), waiter);
            if (!first || _granted + bytes > Limit)
            {
                if (!_waiters.Contains(waiter)) _waiters.Enqueue(waiter);
                return false;
            }
            if (_waiters.Count > 0)
            {
                _waiters.Dequeue();
                _waiters.TryPeek(out next); // there may be room left for the next one too
            }
            Interlocked.Add(ref _granted, bytes);
        }
        RaisePeak(InUse);
        next?.BudgetAvailable();
        return true;
    }

    /// <summary>Gives back bytes from <see cref="TryTake"/> and from <see cref="Take"/>, and wakes the first waiter.</summary>
    internal void Release(long granted, long taken)
    {
        Volatile.Write(ref _lastUse, Environment.TickCount64);
        if (taken != 0) Interlocked.Add(ref _taken, -taken);
        if (granted == 0) return;
        Interlocked.Add(ref _granted, -granted);
        IBudgetWaiter? first;
        lock (_lock) _waiters.TryPeek(out first);
        first?.BudgetAvailable();
    }

    /// <summary>Takes <paramref name="waiter"/> out of the queue (its connection closed, or it needs no room any more).</summary>
    internal void Withdraw(IBudgetWaiter waiter)
    {
        IBudgetWaiter? first = null;
        lock (_lock)
        {
            if (!_waiters.Contains(waiter)) return;
            bool wasFirst = ReferenceEquals(_waiters.Peek(), waiter);
            var rest = _waiters.Where(w => !ReferenceEquals(w, waiter)).ToArray();
            _waiters.Clear();
            foreach (var w in rest) _waiters.Enqueue(w);
            if (wasFirst) _waiters.TryPeek(out first);
        }
        first?.BudgetAvailable();
    }

    /// <summary>A buffer of at least <paramref name="length"/> bytes.</summary>
    internal byte[] Rent(int length)
    {
        Volatile.Write(ref _lastUse, Environment.TickCount64);
        if (length <= SmallBuffer) return ArrayPool<byte>.Shared.Rent(length);
        int bucket = Bucket(length);
        if (bucket >= Buckets) return GC.AllocateUninitializedArray<byte>(length);
        lock (_lock)
        {
            if (_free[bucket].TryPop(out var b))
            {
                _freeBytes -= b.Length;
                return b;
            }
        }
        int size = SmallBuffer << (bucket + 1);
        Interlocked.Add(ref _allocatedSinceCollect, size);
        return GC.AllocateUninitializedArray<byte>(size);
    }

    /// <summary>Returns a buffer from <see cref="Rent"/>.</summary>
    internal void Return(byte[] buffer)
    {
        if (buffer.Length <= SmallBuffer) { ArrayPool<byte>.Shared.Return(buffer); return; }
        int bucket = Bucket(buffer.Length);
        if (bucket >= Buckets || buffer.Length != SmallBuffer << (bucket + 1)) return; // not one of ours: the GC takes it
        lock (_lock)
        {
            // Never more pooled than the budget could hold at once.
            if (_freeBytes + buffer.Length > Limit) return;
            _free[bucket].Push(buffer);
            _freeBytes += buffer.Length;
        }
    }

    private static int Bucket(int length) => 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)(length - 1)) - 21;

    private void RaisePeak(long now)
    {
        long peak;
        while (now > (peak = Interlocked.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak) { }
    }

    /// <summary>
    /// After a burst (no buffer rented or given back for the idle period, none held): drops the pooled buffers and, when
    /// the burst allocated more than a few, runs one blocking compacting GC in its aggressive mode, which also hands the
    /// freed heap back to the system. It costs a full GC of the live heap (a few ms here, logged), once per burst.
    /// </summary>
    internal void TrimIfIdle()
    {
        if (InUse > 0 || Environment.TickCount64 - Volatile.Read(ref _lastUse) < (long)_idle.TotalMilliseconds) return;
        long dropped;
        lock (_lock)
        {
            dropped = _freeBytes;
            foreach (var s in _free) s.Clear();
            _freeBytes = 0;
        }
        long allocated = Interlocked.Exchange(ref _allocatedSinceCollect, 0);
        if (allocated < CollectAfter) { if (allocated > 0) Interlocked.Add(ref _allocatedSinceCollect, allocated); return; }
        long before = Environment.WorkingSet;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var cpu = Environment.CpuUsage.TotalTime;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        // Wall time grows with the machine's load; CPU time is what the collection itself cost.
        Log.BuffersTrimmed(_log, dropped >> 20, allocated >> 20, sw.Elapsed.TotalMilliseconds, (Environment.CpuUsage.TotalTime - cpu).TotalMilliseconds,
            before >> 20, Environment.WorkingSet >> 20);
    }

    /// <summary>Large-buffer bytes allocated since the last collection that make an idle collection worth it.</summary>
    private const long CollectAfter = 64L << 20;

    /// <inheritdoc/>
    public void Dispose() => _trim?.Dispose();
}

internal static partial class Log
{
    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "iSCSI write buffers idle: dropped {PooledMiB} MiB pooled ({AllocatedMiB} MiB allocated in the burst), compacting GC {Ms:F1} ms ({CpuMs:F1} ms CPU), working set {BeforeMiB} -> {AfterMiB} MiB")]
    public static partial void BuffersTrimmed(ILogger logger, long pooledMiB, long allocatedMiB, double ms, double cpuMs, long beforeMiB, long afterMiB);
}

/// <summary>A connection waiting for room in the <see cref="WriteBufferBudget"/>.</summary>
internal interface IBudgetWaiter
{
    /// <summary>Called on any thread when room may have come; the waiter retries on its own loop.</summary>
    void BudgetAvailable();
}

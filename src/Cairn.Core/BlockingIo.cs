using System.Collections.Concurrent;

namespace Cairn.Core;

/// <summary>
/// A few dedicated threads for work that blocks on the disk (fsync of a group commit, a device flush), so that it never
/// holds one of the thread pool's threads: HTTP requests (status reads) and iSCSI connections keep the pool to
/// themselves, whatever the disk does. Work is run in arrival order by whichever thread is free.
/// </summary>
public static class BlockingIo
{
    private static readonly BlockingCollection<Action> Queue = new(new ConcurrentQueue<Action>());

    /// <summary>Threads serving the queue: enough for the store's and each engine's group commit to overlap.</summary>
    public const int Threads = 4;

    static BlockingIo()
    {
        for (int i = 0; i < Threads; i++)
            new Thread(Serve) { IsBackground = true, Name = "cairn-blocking-io-" + i }.Start();
    }

    private static void Serve()
    {
        foreach (var work in Queue.GetConsumingEnumerable()) work();
    }

    /// <summary>Runs <paramref name="work"/> on a blocking-I/O thread; the task completes (or faults) with it.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "Every exception is handed to the caller's task.")]
    public static Task<T> Run<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Queue.Add(() =>
        {
            try { done.SetResult(work()); }
            catch (Exception e) { done.SetException(e); }
        });
        return done.Task;
    }

    /// <summary>Runs <paramref name="work"/> on a blocking-I/O thread.</summary>
    public static Task Run(Action work) => Run<bool>(() => { work(); return true; });

    /// <summary>Queues <paramref name="work"/> without waiting for it (it must handle its own errors).</summary>
    public static void Post(Action work) => Queue.Add(work);
}

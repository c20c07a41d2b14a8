using System.Diagnostics;
using Cairn.Core.Processes;
using Cairn.Engine.Zfs;
using Cairn.TestSupport;

namespace Cairn.Engine.Tests.Zfs;

/// <summary>
/// One file-backed zpool with a unique name for all ZFS tests (made once: a pool costs seconds on zfs-fuse), on a sparse
/// file in a temp directory, destroyed with the file at the end. Starts the machine-global zfs-fuse daemon when none
/// runs (a fresh CI machine); it never touches another pool.
/// </summary>
public sealed class ZfsPoolFixture : IAsyncLifetime
{
    public string Pool { get; } = "cairn-test-" + Guid.NewGuid().ToString("N")[..8];
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "cairn-zfs-tests", Guid.NewGuid().ToString("N"));
    public ZfsEngine Engine { get; private set; } = null!;
    private bool _created;

    public async ValueTask InitializeAsync()
    {
        ExternalTool.Require("zfs", "zfs-fuse");
        ExternalTool.Require("zfs-fuse", "zfs-fuse");
        await ZfsDaemon.EnsureRunningAsync();
        Directory.CreateDirectory(Dir);
        var file = Path.Combine(Dir, "pool.img");
        using (var f = File.Create(file)) f.SetLength(2L << 30);
        await Zpool("create", "-m", Path.Combine(Dir, "mnt"), Pool, file);
        _created = true;
        Engine = new ZfsEngine();
        await Engine.AttachPoolAsync(Pool);
    }

    public async ValueTask DisposeAsync()
    {
        Engine?.Dispose();
        if (_created) await ZfsDaemon.DestroyPoolAsync(Pool);
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }

    public static Task<ProcessResult> Zfs(params string[] args) => Run("zfs", args);

    public static Task<ProcessResult> Zpool(params string[] args) => Run("zpool", args);

    private static async Task<ProcessResult> Run(string tool, string[] args)
    {
        var r = await ProcessRunner.Default.RunAsync(new ProcessSpec(tool, args));
        r.ThrowIfFailed();
        return r;
    }
}

/// <summary>The zfs-fuse daemon: started when none answers, and left running (it is machine-global).</summary>
public static class ZfsDaemon
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static async Task EnsureRunningAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (await Answers()) return;
            // zfs-fuse without -n forks into the background once its control socket is up.
            using (var p = Process.Start(new ProcessStartInfo(ExternalTool.Find("zfs-fuse")!) { UseShellExecute = false }))
                await p!.WaitForExitAsync();
            var deadline = Stopwatch.StartNew();
            while (!await Answers())
            {
                if (deadline.Elapsed > TimeSpan.FromSeconds(60)) throw new InvalidOperationException("zfs-fuse did not start answering within 60 s");
                await Task.Delay(100);
            }
        }
        finally { Gate.Release(); }
    }

    private static async Task<bool> Answers()
    {
        var r = await ProcessRunner.Default.RunAsync(new ProcessSpec("zpool", ["list", "-H", "-o", "name"]));
        return r.Succeeded || !(r.StdErr.Contains("daemon", StringComparison.Ordinal) || r.StdErr.Contains("connect", StringComparison.Ordinal));
    }

    /// <summary>zpool destroy -f (datasets may still be mounted), tried a few times while zfs-fuse says busy.</summary>
    public static async Task DestroyPoolAsync(string pool)
    {
        for (int i = 0; ; i++)
        {
            var r = await ProcessRunner.Default.RunAsync(new ProcessSpec("zpool", ["destroy", "-f", pool]));
            if (r.Succeeded || i >= 20 || r.StdErr.Contains("no such pool", StringComparison.Ordinal)) return;
            await Task.Delay(250);
        }
    }
}

[CollectionDefinition("zfs")]
public sealed class ZfsCollection : ICollectionFixture<ZfsPoolFixture>;

using System.Diagnostics;
using System.Globalization;
using Cairn.TestSupport;

namespace Cairn.Bench;

/// <summary>
/// The time a new user waits (bench <c>startup</c>): a fresh clone to a healthy <c>dotnet run … serve</c> (the README's
/// command), the built server to healthy, one CLI call on the built binary (and through <c>dotnet cairn.dll</c>) side by
/// side with <c>zfs list</c> on zfs-fuse and <c>tgtadm --op show</c> on a tgtd of its own, and the README's quick start
/// on the built binary.
/// </summary>
internal static class StartupBench
{
    public static int Run(string[] args)
    {
        int rounds = int.Parse(BenchArgs.Get(args, "rounds", "20"), CultureInfo.InvariantCulture);
        bool fresh = BenchArgs.Get(args, "clone", "true") == "true";
        var repo = Repo();
        var cairn = Path.Combine(repo, "src", "Cairn", "bin", "Release", "net10.0", "cairn");
        if (!File.Exists(cairn)) throw new InvalidOperationException($"{cairn} is missing: dotnet build -c Release src/Cairn");
        var dir = BenchArgs.Scratch(args, "startup");
        try
        {
            Console.WriteLine($"startup: {rounds} rounds per CLI figure, medians; repo {repo}");
            if (fresh) FreshClone(repo, dir);
            ServerStart(cairn, dir);
            CliCalls(cairn, dir, rounds);
            QuickStart(cairn, dir);
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
        return 0;
    }

    private static string Repo()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Cairn.slnx"))) return d.FullName;
        throw new InvalidOperationException("Cairn.slnx not found above the bench");
    }

    private static void FreshClone(string repo, string dir)
    {
        var clone = Path.Combine(dir, "clone");
        var sw = Stopwatch.StartNew();
        Commands.Run("git", "clone", "-q", repo, clone).ThrowIfFailed();
        var cloned = sw.Elapsed;
        int http = CairnServer.FreePort();
        var server = CairnServer.StartProgram("dotnet", ["run", "-c", "Release", "--project", "src/Cairn", "--", "serve",
            "--http", $"127.0.0.1:{http}", "--iscsi", $"127.0.0.1:{CairnServer.FreePort()}"], workingDirectory: clone);
        try
        {
            server.WaitHealthyAsync(new Uri($"http://127.0.0.1:{http}"), TimeSpan.FromMinutes(20)).GetAwaiter().GetResult();
            Console.WriteLine($"  fresh clone to healthy (git clone {cloned.TotalSeconds:F1} s, then the README's dotnet run … serve: restore, build, start): {sw.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            foreach (var p in ProcessTree.Descendants(server.Id)) Commands.Run("kill", "-TERM", p.ToString(CultureInfo.InvariantCulture));
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static void ServerStart(string cairn, string dir)
    {
        var times = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            int http = CairnServer.FreePort();
            var sw = Stopwatch.StartNew();
            var s = CairnServer.StartProgram(cairn, ["serve", "--data", Path.Combine(dir, $"start{i}"), "--http", $"127.0.0.1:{http}",
                "--iscsi", $"127.0.0.1:{CairnServer.FreePort()}", "--pools", "tank"]);
            s.WaitHealthyAsync(new Uri($"http://127.0.0.1:{http}")).GetAwaiter().GetResult();
            times.Add(sw.Elapsed.TotalMilliseconds);
            s.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        Console.WriteLine($"  built server (src/Cairn/bin/Release/net10.0/cairn serve) to healthy, new data directory: median {Median(times):F0} ms of 5 ({string.Join(", ", times.Select(t => t.ToString("F0", CultureInfo.InvariantCulture)))})");
    }

    private static void CliCalls(string cairn, string dir, int rounds)
    {
        int http = CairnServer.FreePort();
        var data = Path.Combine(dir, "cli");
        var s = CairnServer.StartProgram(cairn, ["serve", "--data", data, "--http", $"127.0.0.1:{http}", "--iscsi", $"127.0.0.1:{CairnServer.FreePort()}", "--pools", "tank"]);
        try
        {
            s.WaitHealthyAsync(new Uri($"http://127.0.0.1:{http}")).GetAwaiter().GetResult();
            var sock = "unix:" + Path.Combine(data, "cairn.sock");
            for (int i = 0; i < 10; i++) Commands.Run(cairn, "volume", "create", $"tank/v{i}", "--size", "1G", "--server", sock).ThrowIfFailed();
            double built = Time(rounds, cairn, "volume", "list", "--server", sock);
            double viaDotnet = Time(rounds, "dotnet", ServerProcess.CairnDll, "volume", "list", "--server", sock);
            var nativeCli = NativeCli(cairn);
            var native = File.Exists(nativeCli) ? $"{Time(rounds, nativeCli, "volume", "list", "--server", sock):F1} ms" : "missing (src/Cairn.Cli not published)";
            Console.WriteLine($"  cairn volume list (10 volumes, Unix socket): native CLI (src/Cairn.Cli/bin/native/cairn) {native}, managed binary {built:F1} ms, dotnet cairn.dll {viaDotnet:F1} ms");
        }
        finally
        {
            s.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        if (Commands.Run("zpool", "list").Succeeded)
        {
            var pool = "cbenchst" + Guid.NewGuid().ToString("N")[..6];
            var file = Path.Combine(dir, pool + ".img");
            Commands.Run("truncate", "-s", "256M", file).ThrowIfFailed();
            Commands.Run("zpool", "create", "-m", "none", pool, file).ThrowIfFailed();
            try
            {
                for (int i = 0; i < 10; i++) Commands.Run("zfs", "create", "-o", "mountpoint=none", $"{pool}/v{i}").ThrowIfFailed();
                Console.WriteLine($"  zfs list -H -r (zfs-fuse, 10 datasets): {Time(rounds, "zfs", "list", "-H", "-r", pool):F1} ms");
            }
            finally
            {
                Commands.Run("zpool", "destroy", "-f", pool);
            }
        }
        else Console.WriteLine("  zfs list: skipped (zfs-fuse is not running)");

        try
        {
            using var tgtd = new TgtdProcess(null, "iqn.2026-01.org.example:startup");
            for (int i = 1; i <= 10; i++)
                tgtd.Adm(true, "--op", "new", "--mode", "target", "--tid", i.ToString(CultureInfo.InvariantCulture), "-T", $"iqn.2026-01.org.example:startup{i}");
            var port = tgtd.ControlPort.ToString(CultureInfo.InvariantCulture);
            Console.WriteLine($"  tgtadm --op show --mode target (10 targets): {Time(rounds, "tgtadm", "-C", port, "--lld", "iscsi", "--op", "show", "--mode", "target"):F1} ms");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Console.WriteLine("  tgtadm: skipped (tgt is not installed)");
        }
    }

    private static void QuickStart(string cairn, string dir)
    {
        int http = CairnServer.FreePort();
        var data = Path.Combine(dir, "quick");
        var image = Path.Combine(dir, "centos.raw");
        // 64 MiB, the second half zero: what the README imports.
        using (var f = File.Create(image))
        {
            var buf = new byte[1 << 20];
            new Random(1).NextBytes(buf);
            for (int i = 0; i < 32; i++) f.Write(buf);
            f.SetLength(64L << 20);
        }
        var sw = Stopwatch.StartNew();
        var s = CairnServer.StartProgram(cairn, ["serve", "--data", data, "--http", $"127.0.0.1:{http}", "--iscsi", $"127.0.0.1:{CairnServer.FreePort()}"]);
        try
        {
            s.WaitHealthyAsync(new Uri($"http://127.0.0.1:{http}")).GetAwaiter().GetResult();
            var started = sw.Elapsed;
            var sock = "unix:" + Path.Combine(data, "cairn.sock");
            string[][] steps =
            [
                ["pool", "create", "tank"],
                ["volume", "create", "tank/scratch", "--size", "20G"],
                ["volume", "import", "tank/golden", image],
                ["snapshot", "create", "tank/golden@v1"],
                ["clone", "tank/golden@v1", "tank/nodes/n001", "--parents"],
                ["target", "create", "iqn.2026-01.org.example:n001", "--volume", "tank/nodes/n001", "--initiator", "iqn.2026-01.org.example:node-n001"],
                ["volume", "list"],
                ["job", "list"],
            ];
            var nativeCli = NativeCli(cairn);
            var cli = File.Exists(nativeCli) ? nativeCli : cairn;
            foreach (var step in steps) Commands.Run(cli, [.. step, "--server", sock]).ThrowIfFailed();
            Console.WriteLine($"  README quick start ({(cli == cairn ? "managed" : "native")} CLI; serve to healthy {started.TotalMilliseconds:F0} ms, then its {steps.Length} commands, a 64 MiB image): {sw.Elapsed.TotalMilliseconds:F0} ms");
        }
        finally
        {
            s.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Median wall time of <paramref name="rounds"/> runs (after one unmeasured), in ms.</summary>
    private static double Time(int rounds, string program, params string[] args)
    {
        Commands.Run(program, args).ThrowIfFailed();
        var times = new List<double>();
        for (int i = 0; i < rounds; i++)
        {
            var sw = Stopwatch.StartNew();
            Commands.Run(program, args).ThrowIfFailed();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        return Median(times);
    }

    private static double Median(List<double> xs)
    {
        xs.Sort();
        return xs.Count % 2 == 1 ? xs[xs.Count / 2] : (xs[xs.Count / 2 - 1] + xs[xs.Count / 2]) / 2;
    }

    /// <summary>The native CLI next to the managed build (src/Cairn.Cli/bin/native/cairn).</summary>
    private static string NativeCli(string cairn) =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(cairn)!, "..", "..", "..", "..", "Cairn.Cli", "bin", "native", "cairn"));
}

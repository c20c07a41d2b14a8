using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests;

/// <summary>Settings come from a config file and CAIRN_* variables; bad settings stop the server with one clear line.</summary>
public sealed class ConfigTests
{
    [Fact]
    public async Task Config_file_and_environment_choose_the_data_directory()
    {
        var dir = TempDir.Create("cairn-cfg");
        var fromFile = Path.Combine(dir, "from-file");
        var cfg = Path.Combine(dir, "cairn.json");
        await File.WriteAllTextAsync(cfg, $$"""{ "Data": "{{fromFile}}", "JobConcurrency": 2 }""");
        await using (var s = await CairnProcess.StartAsync(dataDir: fromFile, extraArgs: ["--config", cfg]))
            Assert.True(File.Exists(Path.Combine(fromFile, "state.db")));

        // No --data on the command line: the environment decides.
        var fromEnv = Path.Combine(dir, "from-env");
        var http = CairnProcess.FreePort();
        await using var p = CairnServer.Start(["serve", "--iscsi", $"127.0.0.1:{CairnProcess.FreePort()}"],
            new Dictionary<string, string?> { ["CAIRN_DATA"] = fromEnv, ["CAIRN_HTTP"] = $"127.0.0.1:{http}" });
        await p.WaitHealthyAsync(new Uri($"http://127.0.0.1:{http}"));
        Assert.True(File.Exists(Path.Combine(fromEnv, "state.db")));
    }

    [Theory]
    [InlineData("--http", "nonsense")]
    [InlineData("--iscsi", "127.0.0.1")]
    [InlineData("--config", "/nonexistent/cairn.json")]
    [InlineData("--socket", "/tmp/a-socket-path-that-is-far-too-long-for-sun-path-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789.sock")]
    public async Task Bad_settings_fail_with_one_line(string option, string value)
    {
        var r = await CairnProcess.RunCliAsync(["serve", "--data", TempDir.Create("cairn-bad"), option, value]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
    }

    [Theory]
    [InlineData("concurrency", "JobConcurrency (CAIRN_JOB_CONCURRENCY): 'abc' is not a whole number")]
    [InlineData("concurrency-range", "JobConcurrency (CAIRN_JOB_CONCURRENCY): 0 is not between 1 and 256")]
    [InlineData("write-buffer", "IscsiWriteBufferMb (CAIRN_ISCSI_WRITE_BUFFER_MB): 8 is not between 16 and 1048576 (MiB)")]
    [InlineData("write-buffer-type", "IscsiWriteBufferMb (CAIRN_ISCSI_WRITE_BUFFER_MB): '1G' is not a whole number")]
    [InlineData("config", "--config (CAIRN_CONFIG): ")]
    [InlineData("iscsi-busy", "--iscsi (CAIRN_ISCSI): 127.0.0.1:")]
    [InlineData("http-busy", "--http (CAIRN_HTTP): 127.0.0.1:")]
    [InlineData("tls", "--tls-cert (CAIRN_TLS_CERT): ")]
    [InlineData("pools", "--pools (CAIRN_POOLS): 'tank:nosuch' names engine 'nosuch'")]
    [InlineData("block-storage-pool", "--block-storage-pool (CAIRN_BLOCK_STORAGE_POOL): 'a/b' is not a pool name")]
    [InlineData("backup-dir", "--backup-dir (CAIRN_BACKUP_DIR): ")]
    [InlineData("backup-dir-env", "--backup-dir (CAIRN_BACKUP_DIR): ")]
    public async Task A_failed_start_is_one_line_naming_the_setting_and_writes_nothing(string kind, string expected)
    {
        var dir = TempDir.Create("cairn-fail");
        var data = Path.Combine(dir, "data");
        var env = new Dictionary<string, string>();
        int http = CairnProcess.FreePort(), iscsi = CairnProcess.FreePort();
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        var busyPort = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
        var args = new List<string> { "serve", "--data", data };
        switch (kind)
        {
            case "concurrency": env["CAIRN_JOB_CONCURRENCY"] = "abc"; break;
            case "concurrency-range": env["CAIRN_JOB_CONCURRENCY"] = "0"; break;
            case "write-buffer": env["CAIRN_ISCSI_WRITE_BUFFER_MB"] = "8"; break;
            case "write-buffer-type": env["CAIRN_ISCSI_WRITE_BUFFER_MB"] = "1G"; break;
            case "config":
                var cfg = Path.Combine(dir, "cairn.json");
                await File.WriteAllTextAsync(cfg, """{ "Data": "x", """, TestContext.Current.CancellationToken);
                args.AddRange(["--config", cfg]);
                expected += cfg + " is not valid JSON: ";
                break;
            case "iscsi-busy": iscsi = busyPort; expected += $"{busyPort} is already in use"; break;
            case "http-busy": http = busyPort; expected += $"{busyPort} is already in use"; break;
            case "pools": args.AddRange(["--pools", "tank:nosuch"]); break;
            case "block-storage-pool": args.AddRange(["--block-storage-pool", "a/b"]); break;
            case "backup-dir" or "backup-dir-env":
                var file = Path.Combine(dir, "not-a-dir");
                await File.WriteAllTextAsync(file, "x", TestContext.Current.CancellationToken);
                if (kind == "backup-dir") args.AddRange(["--backup-dir", file]);
                else env["CAIRN_BACKUP_DIR"] = file;
                expected += $"{file} is a file, not a directory";
                break;
            case "tls":
                var pem = Path.Combine(dir, "junk.pem");
                await File.WriteAllTextAsync(pem, "not a certificate", TestContext.Current.CancellationToken);
                args.AddRange(["--tls-cert", pem, "--tls-key", pem]);
                break;
        }
        args.AddRange(["--http", $"127.0.0.1:{http}", "--iscsi", $"127.0.0.1:{iscsi}"]);
        var r = await CairnProcess.RunCliAsync([.. args], env: env);
        Assert.NotEqual(0, r.ExitCode);
        var lines = r.Stderr.TrimEnd('\n').Split('\n');
        Assert.True(lines.Length == 1, r.Stderr);
        Assert.StartsWith("error: " + expected, lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("http://", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stderr + r.Stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(data), $"the failed start created {data}: {string.Join(", ", Directory.Exists(data) ? Directory.GetFileSystemEntries(data) : [])}");
    }

    [Fact]
    public async Task A_second_server_on_the_same_data_directory_is_refused()
    {
        await using var s = await CairnProcess.StartAsync();
        var r = await CairnProcess.RunCliAsync(["serve", "--data", s.DataDir, "--http", $"127.0.0.1:{CairnProcess.FreePort()}", "--iscsi", $"127.0.0.1:{CairnProcess.FreePort()}"]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("another cairn server", r.Stderr);
    }

    [Fact]
    public async Task The_unix_socket_is_left_out_when_turned_off_or_when_the_data_path_is_too_long()
    {
        await using (var off = await CairnProcess.StartAsync(extraArgs: ["--socket", "none"]))
        {
            Assert.False(File.Exists(off.SocketPath));
            Assert.True(await off.WaitForLogAsync("socket none"), off.Log);
        }
        var deep = Path.Combine(TempDir.Create("cairn-deep"), new string('d', 60), new string('e', 60));
        await using var s = await CairnProcess.StartAsync(dataDir: deep);
        Assert.False(File.Exists(s.SocketPath));
        Assert.True(await s.WaitForLogAsync("serving without a socket"), s.Log);
        // A stale socket of a killed server does not stop the next one.
        await using var fresh = await CairnProcess.StartAsync();
        fresh.Kill();
        Assert.True(File.Exists(fresh.SocketPath));
        await using var again = await CairnProcess.StartAsync(fresh.DataDir);
        (await again.LocalCliAsync("pool", "list")).Ok();
    }
}

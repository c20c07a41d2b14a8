using Cairn.Integration.Tests.Support;

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
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { CairnProcess.CairnDll, "serve", "--iscsi", $"127.0.0.1:{CairnProcess.FreePort()}" }) psi.ArgumentList.Add(a);
        psi.Environment["CAIRN_DATA"] = fromEnv;
        psi.Environment["CAIRN_HTTP"] = $"127.0.0.1:{http}";
        using var p = System.Diagnostics.Process.Start(psi)!;
        try
        {
            using var client = new HttpClient();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                try { if ((await client.GetAsync($"http://127.0.0.1:{http}/healthz")).IsSuccessStatusCode) break; }
                catch (HttpRequestException) { }
                Assert.True(DateTime.UtcNow < deadline && !p.HasExited, "server with CAIRN_* settings did not start");
                await Task.Delay(100);
            }
            Assert.True(File.Exists(Path.Combine(fromEnv, "state.db")));
        }
        finally { p.Kill(); await p.WaitForExitAsync(); }
    }

    [Theory]
    [InlineData("--http", "nonsense")]
    [InlineData("--iscsi", "127.0.0.1")]
    [InlineData("--config", "/nonexistent/cairn.json")]
    public async Task Bad_settings_fail_with_one_line(string option, string value)
    {
        var r = await CairnProcess.RunCliAsync(["serve", "--data", TempDir.Create("cairn-bad"), option, value]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
    }

    [Fact]
    public async Task A_second_server_on_the_same_data_directory_is_refused()
    {
        await using var s = await CairnProcess.StartAsync();
        var r = await CairnProcess.RunCliAsync(["serve", "--data", s.DataDir, "--http", $"127.0.0.1:{CairnProcess.FreePort()}", "--iscsi", $"127.0.0.1:{CairnProcess.FreePort()}"]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("another cairn server", r.Stderr);
    }
}

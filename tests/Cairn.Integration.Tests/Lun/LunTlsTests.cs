using System.Diagnostics;
using System.Text.Json.Nodes;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests.Lun;

/// <summary>
/// A real <c>cairn serve</c> with TLS and client certificates, driven by curl exactly as the seed's examples do
/// (<c>curl -s -k --key … --cert … -X POST -H 'Content-Type: application/json' -d '…' https://…/lun/api/v1.0/clone</c>).
/// </summary>
public sealed class LunTlsTests
{
    private const string Src = "na-jbod-02-p01/projects/testbed/images/centos72-probe@1";
    private const string Dst = "na-jbod-02-p01/projects/testbed/yat/nodes/nodea.centos72-probe.0001";
    private const string Wwn = "iqn.2014-11.nmc-probe.org:testbed.yat.nodea.centos72-probe.0001";

    [Fact]
    public async Task Seed_curl_calls_work_with_an_allowed_certificate_and_everything_else_is_refused()
    {
        var curl = ExternalTool.Require("curl", "curl");
        var pki = await Pki.CreateAsync();
        await using var server = await TlsServer.StartAsync(pki, $"{Pki.AllowedSubject}");
        string[] allowed = ["--key", pki.P("client.key"), "--cert", pki.P("client.crt")];

        // The image, through the admin API (same listener, same certificate).
        await Curl(curl, allowed, "POST", server.Url + "/cairn/v1/volumes", $$"""{"name":"{{Src.Split('@')[0]}}","size":1048576,"parents":true}""");
        await Curl(curl, allowed, "POST", server.Url + "/cairn/v1/snapshots", $$"""{"name":"{{Src}}"}""");

        // clone_test: the seed's example has no -X, so it is a GET; POST works too.
        var (_, test) = await Tool.RunAsync(curl, ["-s", "-k", "--key", pki.P("client.key"), "--cert", pki.P("client.crt"), server.Url + "/lun/api/v1.0/clone_test"]);
        Assert.Equal("""{"status":"ok","message":"test"}""", test.Trim());

        var create = await Curl(curl, allowed, "POST", server.Url + "/lun/api/v1.0/clone", $$"""
            {"clones":[
                      {"initiators": ["iqn.2014-11.nmc-probe.org:666cf3f7545"],
                       "src": "{{Src}}",
                       "dst": "{{Dst}}",
                       "createParent": 1,
                       "wwn":"{{Wwn}}"}]}
            """);
        Assert.Equal("ok", (string)create["status"]!);
        var status = await WaitAsync(curl, allowed, server.Url, (string)create["job_id"]!);
        Assert.Equal("complete", (string)status["status"]!);
        Assert.Equal(1, (int)status["num_targets"]!);

        var delete = await Curl(curl, allowed, "DELETE", server.Url + "/lun/api/v1.0/clone", $$"""
            {"clones":[{
                       "dst": "{{Dst}}",
                       "wwn": "{{Wwn}}",
                       "deleteClone": 1
                   }]}
            """);
        status = await WaitAsync(curl, allowed, server.Url, (string)delete["job_id"]!);
        Assert.Equal("complete", (string)status["status"]!);
        Assert.Equal(1, (int)status["num_clones"]!); // the seed's spelling does delete the clone here

        // Refused: no certificate, a certificate the CA signed that is not on the list, the allowed subject from another CA.
        foreach (var (what, args) in new (string, string[])[]
        {
            ("no certificate", []),
            ("off the allow-list", ["--key", pki.P("offlist.key"), "--cert", pki.P("offlist.crt")]),
            ("unknown CA", ["--key", pki.P("rogue.key"), "--cert", pki.P("rogue.crt")]),
        })
        {
            var (exit, output) = await Tool.RunAsync(curl, ["-s", "-k", .. args, "-o", "/dev/null", "-w", "%{http_code}", server.Url + "/lun/api/v1.0/clone_test"]);
            Assert.True(exit != 0 && output.Trim() == "000", $"{what}: curl exit {exit}, http {output}");
        }
        // The server logs each refusal a moment after curl sees it: wait for the lines, not for a time.
        foreach (var line in new[] { "not on --client-allow", "does not chain to --client-ca" })
            Assert.True(await server.WaitForLogAsync(line), $"no \"{line}\" in the server log:\n{server.Log}");
    }

    [Fact]
    public async Task Fingerprints_are_accepted_on_the_allow_list()
    {
        var curl = ExternalTool.Require("curl", "curl");
        var pki = await Pki.CreateAsync();
        var (_, fp) = await Tool.RunAsync("openssl", ["x509", "-in", pki.P("offlist.crt"), "-noout", "-fingerprint", "-sha256"]);
        var hex = fp.Trim().Split('=')[1];
        await using var server = await TlsServer.StartAsync(pki, hex);
        var (exit, body) = await Tool.RunAsync(curl, ["-s", "-k", "--key", pki.P("offlist.key"), "--cert", pki.P("offlist.crt"), server.Url + "/lun/api/v1.0/clone_test"]);
        Assert.True(exit == 0, body);
        var (exit2, _) = await Tool.RunAsync(curl, ["-s", "-k", "--key", pki.P("client.key"), "--cert", pki.P("client.crt"), server.Url + "/lun/api/v1.0/clone_test"]);
        Assert.NotEqual(0, exit2);
    }

    [Theory]
    [InlineData("0.0.0.0", false, null, "loopback only")]
    [InlineData("0.0.0.0", true, null, "client-certificate authentication")]
    [InlineData("127.0.0.1", true, "", "without --client-allow")]
    public async Task Unsafe_listener_settings_are_refused_at_start(string addr, bool tls, string? allow, string message)
    {
        var pki = await Pki.CreateAsync();
        List<string> args = ["serve", "--data", TempDir.Create("cairn-lun-refuse"), "--http", $"{addr}:{CairnProcess.FreePort()}", "--iscsi", $"127.0.0.1:{CairnProcess.FreePort()}"];
        if (tls) args.AddRange(["--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey]);
        if (allow is not null) args.AddRange(["--client-ca", pki.Ca]);
        var r = await CairnProcess.RunCliAsync([.. args], TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(message, r.Stderr + r.Stdout, StringComparison.Ordinal);
    }

    private static async Task<JsonNode> Curl(string curl, string[] cert, string method, string url, string body)
    {
        var (exit, output) = await Tool.RunAsync(curl, ["-s", "-k", .. cert, "-X", method, "-H", "Content-Type: application/json", "-d", body, url]);
        Assert.True(exit == 0, $"curl exit {exit}: {output}");
        return JsonNode.Parse(output)!;
    }

    private static async Task<JsonNode> WaitAsync(string curl, string[] cert, string url, string jobId)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var (exit, output) = await Tool.RunAsync(curl, ["-s", "-k", .. cert, "-X", "GET", url + "/lun/api/v1.0/clone_status/" + jobId]);
            Assert.True(exit == 0, output);
            var s = JsonNode.Parse(output)!;
            if ((string)s["status"]! is "complete" or "failed") return s;
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "job did not finish: " + output);
            await Task.Delay(100);
        }
    }
}

/// <summary>A <c>cairn serve</c> process with TLS and client certificates on loopback.</summary>
internal sealed class TlsServer : IAsyncDisposable
{
    private readonly CairnServer _server;

    private TlsServer(CairnServer server, string url)
    {
        _server = server;
        Url = url;
    }

    public string Url { get; }
    public string Log => _server.Log;

    public Task<bool> WaitForLogAsync(string text) => _server.WaitForLogAsync(text);

    public static async Task<TlsServer> StartAsync(Pki pki, string allow)
    {
        var port = CairnProcess.FreePort();
        var server = CairnServer.Start(["serve", "--data", TempDir.Create("cairn-lun-tls"), "--http", $"127.0.0.1:{port}",
            "--iscsi", $"127.0.0.1:{CairnProcess.FreePort()}", "--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey,
            "--client-ca", pki.Ca, "--client-allow", allow, "--pools", "na-jbod-02-p01"]);
        var s = new TlsServer(server, $"https://127.0.0.1:{port}");
        await server.WaitReadyAsync(async () =>
        {
            var (exit, output) = await Tool.RunAsync("curl", ["-s", "-k", "--key", pki.P("client.key"), "--cert", pki.P("client.crt"), "-o", "/dev/null", "-w", "%{http_code}", s.Url + "/healthz"]);
            // The fingerprint test allows only the off-list certificate: readiness is then "the port answers TLS".
            return (exit == 0 && output.Trim() == "200") || s.Log.Contains("Refused client certificate", StringComparison.Ordinal);
        });
        return s;
    }

    public async ValueTask DisposeAsync()
    {
        _server.Kill();
        await _server.DisposeAsync();
    }
}

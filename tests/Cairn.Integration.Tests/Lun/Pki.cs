using System.Diagnostics;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests.Lun;

/// <summary>
/// Certificates made with the real openssl CLI for one test: a CA, a server certificate for 127.0.0.1, an allowed
/// client, a client the CA signed but that is not on the allow-list, and a client from another CA with the allowed
/// client's very subject (so only the chain check can refuse it).
/// </summary>
internal sealed class Pki
{
    public const string AllowedSubject = "CN=rest_client,O=testbed";

    public string Dir { get; } = TempDir.Create("cairn-pki");
    public string Ca => P("ca.crt");
    public string ServerCert => P("server.crt");
    public string ServerKey => P("server.key");
    public string P(string name) => Path.Combine(Dir, name);

    public static async Task<Pki> CreateAsync()
    {
        ExternalTool.Require("openssl", "openssl");
        var k = new Pki();
        await k.SelfSigned("ca", "/CN=Cairn test CA");
        await k.SelfSigned("rogue-ca", "/CN=Cairn test CA");
        await k.Issue("ca", "server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth");
        await k.Issue("ca", "client", "/O=testbed/CN=rest_client", "extendedKeyUsage=clientAuth");
        await k.Issue("ca", "offlist", "/O=testbed/CN=intruder", "extendedKeyUsage=clientAuth");
        await k.Issue("rogue-ca", "rogue", "/O=testbed/CN=rest_client", "extendedKeyUsage=clientAuth");
        return k;
    }

    private Task SelfSigned(string name, string subject) => Run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", P(name + ".key"), "-out", P(name + ".crt"), "-days", "2", "-subj", subject,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");

    private async Task Issue(string ca, string name, string subject, string ext)
    {
        await File.WriteAllTextAsync(P(name + ".ext"), ext + "\n");
        await Run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", P(name + ".key"),
            "-out", P(name + ".csr"), "-subj", subject);
        await Run("x509", "-req", "-in", P(name + ".csr"), "-CA", P(ca + ".crt"), "-CAkey", P(ca + ".key"), "-CAcreateserial",
            "-out", P(name + ".crt"), "-days", "2", "-extfile", P(name + ".ext"));
    }

    private static async Task Run(params string[] args)
    {
        var (exit, output) = await Tool.RunAsync("openssl", args);
        Assert.True(exit == 0, "openssl " + string.Join(' ', args) + "\n" + output);
    }
}

/// <summary>Runs an external tool and collects its output.</summary>
internal static class Tool
{
    public static async Task<(int Exit, string Output)> RunAsync(string tool, IEnumerable<string> args, int timeoutSeconds = 60)
    {
        var r = await Commands.RunAsync(tool, args, TimeSpan.FromSeconds(timeoutSeconds));
        return (r.Exit(), r.Output());
    }
}

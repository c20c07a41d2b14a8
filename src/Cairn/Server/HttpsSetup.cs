using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Cairn.Server;

/// <summary>TLS on the HTTP listener (client-certificate authentication arrives with the LUN clone API).</summary>
internal static class HttpsSetup
{
    public static void Configure(ListenOptions lo, CairnOptions options)
    {
        lo.Protocols = HttpProtocols.Http1AndHttp2;
        if (options.TlsCert is null) return;
        var cert = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(options.TlsCert, options.TlsKey);
        lo.UseHttps(cert);
    }
}

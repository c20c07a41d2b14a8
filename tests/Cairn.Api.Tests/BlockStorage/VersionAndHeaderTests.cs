using System.Net;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>Version discovery, the three URL forms and the microversion header rules, in process.</summary>
public sealed class VersionAndHeaderTests(BlockStorageHost h) : IClassFixture<BlockStorageHost>
{
    [Fact]
    public async Task Root_answers_300_with_a_current_v3_and_a_deprecated_v2()
    {
        var r = await h.SendAsync("GET", "/", token: null);
        Assert.True(HttpStatusCode.MultipleChoices == r.Code, r.Text + h.Logs.Dump());
        var versions = r.Body!["versions"]!.AsArray();
        var v3 = versions.Single(v => v!["id"]!.GetValue<string>() == "v3.0")!;
        Assert.Equal("CURRENT", v3["status"]!.GetValue<string>());
        Assert.Equal("3.0", v3["min_version"]!.GetValue<string>());
        Assert.Equal("3.60", v3["version"]!.GetValue<string>());
        Assert.Equal(h.Url + "v3/", v3["links"]!.AsArray().Single(l => l!["rel"]!.GetValue<string>() == "self")!["href"]!.GetValue<string>());
        Assert.Equal("DEPRECATED", versions.Single(v => v!["id"]!.GetValue<string>() == "v2.0")!["status"]!.GetValue<string>());
        Assert.StartsWith("req-", r.Header("x-openstack-request-id"));
    }

    [Theory]
    [InlineData("/v3")]
    [InlineData("/v3/")]
    public async Task V3_answers_200_with_the_single_entry_and_no_token(string path)
    {
        var r = await h.SendAsync("GET", path, token: null);
        Assert.Equal(HttpStatusCode.OK, r.Code);
        var only = Assert.Single(r.Body!["versions"]!.AsArray());
        Assert.Equal("v3.0", only!["id"]!.GetValue<string>());
        Assert.Equal(["id", "links", "media-types", "min_version", "status", "updated", "version"], only.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_three_url_forms_serve_the_same_volume()
    {
        var id = await h.CreateVolumeAsync();
        foreach (var path in new[] { $"/v3/{BlockStorageHost.Project}/volumes/{id}", $"/v3/volumes/{id}", $"/v2/{BlockStorageHost.Project}/volumes/{id}" })
        {
            var r = await h.SendAsync("GET", path);
            Assert.True(r.Code == HttpStatusCode.OK, path + ": " + r.Text);
            Assert.Equal(id, r.Body!["volume"]!["id"]!.GetValue<string>());
            Assert.Contains(path.StartsWith("/v2", StringComparison.Ordinal) ? "/v2/" : "/v3/", r.Body["volume"]!["links"]![0]!["href"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task Microversion_is_echoed_with_vary_and_defaults_to_3_0()
    {
        var none = await h.SendAsync("GET", "/v3/volumes");
        Assert.Equal("volume 3.0", none.Header("OpenStack-API-Version"));
        Assert.Contains("OpenStack-API-Version", none.Header("Vary"));
        var asked = await h.SendAsync("GET", "/v3/volumes", version: "volume 3.27");
        Assert.Equal("volume 3.27", asked.Header("OpenStack-API-Version"));
        var latest = await h.SendAsync("GET", "/v3/volumes", version: "volume latest");
        Assert.Equal("volume 3.60", latest.Header("OpenStack-API-Version"));
    }

    [Theory]
    [InlineData("volume 3.61")]
    [InlineData("volume 4.0")]
    [InlineData("volume 2.0")]
    public async Task Out_of_range_microversion_is_406_with_the_headers(string version)
    {
        var r = await h.SendAsync("GET", "/v3/volumes", version: version);
        Assert.Equal(HttpStatusCode.NotAcceptable, r.Code);
        Assert.Equal(406, r.Body!["computeFault"]!["code"]!.GetValue<int>());
        Assert.NotNull(r.Header("OpenStack-API-Version"));
        Assert.StartsWith("req-", r.Header("x-openstack-request-id"));
    }

    [Theory]
    [InlineData("volume 3.x")]
    [InlineData("volume three")]
    [InlineData("volume 3.5 3.6")]
    public async Task Malformed_microversion_is_400(string version)
    {
        var r = await h.SendAsync("GET", "/v3/volumes", version: version);
        Assert.Equal(HttpStatusCode.BadRequest, r.Code);
        Assert.Equal(400, r.Body!["badRequest"]!["code"]!.GetValue<int>());
        Assert.Contains("Vary", r.Response.Headers.Select(x => x.Key));
    }

    [Fact]
    public async Task Missing_or_forged_token_is_keystones_401()
    {
        foreach (var token in new string?[] { null, "forged:" + BlockStorageHost.Project })
        {
            var r = await h.SendAsync("GET", "/v3/volumes", token: token);
            Assert.Equal(HttpStatusCode.Unauthorized, r.Code);
            Assert.Equal("Unauthorized", r.Body!["error"]!["title"]!.GetValue<string>());
            Assert.StartsWith("Keystone uri=", r.Response.Headers.WwwAuthenticate.ToString());
            Assert.Equal("volume 3.0", r.Header("OpenStack-API-Version"));
        }
    }

    [Fact]
    public async Task A_project_in_the_url_that_is_not_the_tokens_is_400_and_a_non_hex_one_404()
    {
        var r = await h.SendAsync("GET", "/v3/abcdef/volumes");
        Assert.Equal(HttpStatusCode.BadRequest, r.Code);
        Assert.Contains("doesn't match", r.Body!["badRequest"]!["message"]!.GetValue<string>());
        var bad = await h.SendAsync("GET", "/v3/not-a-project/volumes");
        Assert.Equal(HttpStatusCode.NotFound, bad.Code);
        Assert.NotNull(bad.Body!["itemNotFound"]);
    }

    [Fact]
    public async Task Unknown_path_and_wrong_method_are_cinder_faults()
    {
        var nf = await h.SendAsync("GET", "/v3/nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, nf.Code);
        Assert.Equal(404, nf.Body!["itemNotFound"]!["code"]!.GetValue<int>());
        var m = await h.SendAsync("PATCH", $"/v3/{BlockStorageHost.Project}/volumes");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, m.Code);
        Assert.Equal(405, m.Body!["badMethod"]!["code"]!.GetValue<int>());
        Assert.StartsWith("req-", m.Header("x-openstack-request-id"));
    }

    [Fact]
    public async Task Attachments_need_3_27()
    {
        var old = await h.SendAsync("GET", "/v3/attachments", version: "volume 3.26");
        Assert.Equal(HttpStatusCode.NotFound, old.Code);
        var ok = await h.SendAsync("GET", "/v3/attachments", version: "volume 3.27");
        Assert.Equal(HttpStatusCode.OK, ok.Code);
    }
}

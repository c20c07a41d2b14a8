using System.Net;
using System.Text.Json.Nodes;

namespace Cairn.Api.Tests.BlockStorage;

/// <summary>StarlingX's <c>wrs-volume</c> and <c>wrs-snapshot</c> extensions, listed and shown as the original answers them (seed 002).</summary>
public sealed class StarlingXExtensionTests(BlockStorageHost h) : IClassFixture<BlockStorageHost>
{
    private const string P = BlockStorageHost.Project;

    [Theory]
    [InlineData("/v3/" + P)]
    [InlineData("/v2/" + P)]
    public async Task Extensions_list_and_show_wrs_volume_and_wrs_snapshot(string prefix)
    {
        var list = (await h.SendAsync("GET", prefix + "/extensions")).Body!["extensions"]!.AsArray();
        var volume = Assert.Single(list, e => e!["alias"]!.GetValue<string>() == "wrs-volume")!;
        Assert.Equal("WrsVolumeExport", volume["name"]!.GetValue<string>());
        Assert.Equal("Enable volume export/import", volume["description"]!.GetValue<string>());
        Assert.Equal("2014-08-11T00:00:00+00:00", volume["updated"]!.GetValue<string>());
        Assert.Equal("http://docs.windriver.com/volume/ext/wrs-volume/api/v1.0", volume["namespace"]!.GetValue<string>());
        Assert.Empty(volume["links"]!.AsArray());
        var snapshot = Assert.Single(list, e => e!["alias"]!.GetValue<string>() == "wrs-snapshot")!;
        Assert.Equal("WrsSnapshotExportAction", snapshot["name"]!.GetValue<string>());
        Assert.Equal("Enable snapshot export to file", snapshot["description"]!.GetValue<string>());
        Assert.Equal("2014-08-16T00:00:00+00:00", snapshot["updated"]!.GetValue<string>());

        foreach (var alias in new[] { "wrs-volume", "wrs-snapshot" })
        {
            var shown = await h.SendAsync("GET", $"{prefix}/extensions/{alias}");
            Assert.Equal(HttpStatusCode.OK, shown.Code);
            var expected = (alias == "wrs-volume" ? volume : snapshot).ToJsonString();
            Assert.Equal(expected, shown.Body!["extension"]!.ToJsonString());
        }
        var missing = await h.SendAsync("GET", $"{prefix}/extensions/wrs-nothing");
        Assert.Equal(HttpStatusCode.NotFound, missing.Code);
        Assert.Contains("wrs-nothing", missing.Text, StringComparison.Ordinal);
        Assert.IsType<JsonObject>(missing.Body);
    }
}

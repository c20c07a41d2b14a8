using Cairn.Core;
using Cairn.Hosting;
using Microsoft.Extensions.Configuration;

namespace Cairn.Api.Tests.Hosting;

public sealed class CairnOptionsBinderTests
{
    /// <summary>A value of the property's type that differs from its default.</summary>
    private static (string Text, object Value) Other(Type t, object? current) =>
        t == typeof(int) ? ("4242", 4242)
        : t == typeof(bool) ? (current is true ? ("false", false) : ("true", true))
        : ("x-other", "x-other");

    [Fact]
    public void Every_setting_is_bound_from_its_environment_name_and_its_own_name()
    {
        // The binder lists its settings by hand; this finds one it missed (a property added to the options later).
        foreach (var p in typeof(CairnOptions).GetProperties().Where(p => p.CanWrite))
        {
            var defaults = new CairnOptions();
            var (text, value) = Other(p.PropertyType == typeof(string) ? typeof(string) : Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType, p.GetValue(defaults));
            foreach (var key in new[] { CairnOptionsBinder.EnvironmentName(p.Name), p.Name })
            {
                var cfg = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = text }).Build();
                var bound = CairnOptionsBinder.Bind(cfg, new CairnOptions());
                Assert.True(Equals(value, p.GetValue(bound)), $"{p.Name} is not bound from '{key}'");
            }
        }
    }

    [Fact]
    public void A_number_setting_that_is_not_a_number_names_the_setting_and_its_variable()
    {
        var cfg = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["TGT_CONTROL_PORT"] = "many" }).Build();
        var e = Assert.Throws<CairnException>(() => CairnOptionsBinder.Bind(cfg, new CairnOptions()));
        Assert.Equal("--tgt-control-port (CAIRN_TGT_CONTROL_PORT): 'many' is not a whole number", e.Message);
    }

    [Fact]
    public void A_flag_setting_that_is_not_a_boolean_is_refused()
    {
        var cfg = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ENGINE_SYNC"] = "maybe" }).Build();
        var e = Assert.Throws<CairnException>(() => CairnOptionsBinder.Bind(cfg, new CairnOptions()));
        Assert.Equal("EngineSync (CAIRN_ENGINE_SYNC): 'maybe' is not true or false", e.Message);
    }
}
